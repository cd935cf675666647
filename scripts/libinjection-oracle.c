/*
 * Reference verdicts from the libinjection that ModSecurity v3 bundles (libmodsecurity exports
 * libinjection_sqli and libinjection_xss). Used by gen-libinjection-fixtures.mjs only.
 *
 *   gcc -O2 scripts/libinjection-oracle.c -o /tmp/libinjection-oracle -lmodsecurity
 *
 * Reads one hex-encoded input per line on stdin; writes "<sqli 0|1> <fingerprint or -> <xss 0|1>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int libinjection_sqli(const char *s, size_t slen, char fingerprint[]);
int libinjection_xss(const char *s, size_t slen);
const char *libinjection_version(void);

static int hex_value(int c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

int main(int argc, char **argv) {
    static char line[1 << 22];
    static char input[1 << 21];
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("%s\n", libinjection_version());
        return 0;
    }
    while (fgets(line, sizeof line, stdin) != NULL) {
        size_t n = 0;
        for (size_t i = 0; line[i] != '\0' && line[i + 1] != '\0'; i += 2) {
            int hi = hex_value(line[i]);
            int lo = hex_value(line[i + 1]);
            if (hi < 0 || lo < 0) break;
            input[n++] = (char)(hi * 16 + lo);
        }
        char fingerprint[8];
        int sqli = libinjection_sqli(input, n, fingerprint);
        int xss = libinjection_xss(input, n);
        printf("%d %s %d\n", sqli, sqli ? fingerprint : "-", xss);
    }
    return 0;
}

/**
 * ferryctl's entry point (bin/ferryctl): parses the command line, runs one command against the
 * HTTP management API, prints errors to stderr with every detail line, and returns the exit code
 * (ctl-error.ts: 0 ok, 1 rejected, 2 usage, connection, TLS or credentials error, 3 the role
 * does not allow it). Flags and the environment win over the config file (config-file.ts).
 */
import { ApiClient } from './api-client.js';
import { DEFAULT_SERVER, parseArgs, type ParsedArgs } from './args.js';
import { readConfigFile } from './config-file.js';
import { COMMANDS } from './commands.js';
import { CtlError, EXIT_OK, EXIT_USAGE } from './ctl-error.js';
import { COMMAND_HELP, GLOBAL_HELP } from './help.js';

export interface CtlIo {
  out(text: string): void;
  err(text: string): void;
}

const processIo: CtlIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

export async function main(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  io: CtlIo = processIo,
): Promise<number> {
  let args: ParsedArgs;
  try {
    args = parseArgs(argv, env);
    let command = args.command;
    if (command === 'help') {
      command = args.positional[0];
      args = { ...args, command, options: { ...args.options, help: true } };
    }
    if (command === undefined || (args.options.help && !COMMAND_HELP[command])) {
      if (!args.options.help && command === undefined) {
        io.err(GLOBAL_HELP);
        return EXIT_USAGE;
      }
      if (command !== undefined)
        throw new CtlError(
          EXIT_USAGE,
          `unknown command ${JSON.stringify(command)} (see ferryctl --help)`,
        );
      io.out(GLOBAL_HELP);
      return EXIT_OK;
    }
    const run = COMMANDS[command];
    if (!run)
      throw new CtlError(
        EXIT_USAGE,
        `unknown command ${JSON.stringify(command)} (see ferryctl --help)`,
      );
    if (args.options.help) {
      io.out(COMMAND_HELP[command] ?? GLOBAL_HELP);
      return EXIT_OK;
    }
    const config = readConfigFile(env);
    const o = args.options;
    const client = new ApiClient(
      o.server ?? config.server ?? DEFAULT_SERVER,
      o.token ?? config.token,
      {
        ...((o.ca ?? config.ca) ? { ca: o.ca ?? config.ca } : {}),
        ...((o.cert ?? config.cert) ? { cert: o.cert ?? config.cert } : {}),
        ...((o.key ?? config.key) ? { key: o.key ?? config.key } : {}),
      },
    );
    await run(args, client, io);
    return EXIT_OK;
  } catch (err) {
    if (err instanceof CtlError) {
      io.err(`error: ${err.message}\n`);
      for (const line of err.details) io.err(`  ${line}\n`);
      return err.exitCode;
    }
    io.err(`error: ${(err as Error)?.stack ?? String(err)}\n`);
    return EXIT_USAGE;
  }
}

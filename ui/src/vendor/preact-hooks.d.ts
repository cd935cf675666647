// Types of Preact's hooks module served at /ui/vendor/preact-hooks.js.
export * from 'preact/hooks';

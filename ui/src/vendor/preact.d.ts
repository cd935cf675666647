// Types of the Preact module served at /ui/vendor/preact.js (control-plane/src/api/ui-assets.ts).
export * from 'preact';

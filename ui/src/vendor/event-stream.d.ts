// Types of the workspace's event-stream reader served at /ui/vendor/event-stream.js.
export * from '@ferry/shared/event-stream';

/**
 * Preloaded (`--import`) into the profiled crmsync child only: SIGUSR2 exits the process at
 * once with `process.exit`, which still makes Node write its `--cpu-prof` profile — unlike
 * SIGKILL, and without waiting for a graceful stop (which waits for in-flight CRM calls).
 */
process.on('SIGUSR2', () => process.exit(0));

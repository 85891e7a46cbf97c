// A run's status in words, shared by the test panel and the runs log.
export const STATUS_TEXT = {
  completed: 'completed',
  failed: 'failed',
  step_limit: 'stopped at the step limit',
  output_limit: 'stopped: too much text',
  waiting: 'waiting',
  running: 'running',
};

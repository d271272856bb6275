/**
 * Task queues. `cpu` runs workflows and light stages; `gpu` runs the stages that want an
 * accelerator (embedding, RQ-VAE, fine-tuning, evaluation). The embedded worker polls both.
 */
export const TASK_QUEUES = { cpu: 'lcrec-cpu', gpu: 'lcrec-gpu' } as const;
export type QueueName = keyof typeof TASK_QUEUES;

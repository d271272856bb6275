export { pipelineWorkflow, statusQuery } from './pipeline.js';

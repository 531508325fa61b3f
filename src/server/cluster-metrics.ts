// One /metrics for all --workers. The worker that gets the scrape asks the primary; the primary asks every
// worker for its registry (prom-client's AggregatorRegistry, over the cluster's IPC channel) and answers
// with them merged. A worker never answers with its own share alone as if it were the whole server.
import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, type PrometheusContentType, type Registry } from 'prom-client';

/** Worker -> primary: merge everyone's metrics for request `id`; primary -> worker: the answer. */
interface MetricsAsk {
  warden: 'metrics?';
  id: number;
}
interface MetricsAnswer {
  warden: 'metrics';
  id: number;
  text?: string;
  error?: string;
}

const ASK_TIMEOUT_MS = 10_000;

function isAsk(m: unknown): m is MetricsAsk {
  return typeof m === 'object' && m !== null && (m as MetricsAsk).warden === 'metrics?' && typeof (m as MetricsAsk).id === 'number';
}

function isAnswer(m: unknown): m is MetricsAnswer {
  return typeof m === 'object' && m !== null && (m as MetricsAnswer).warden === 'metrics' && typeof (m as MetricsAnswer).id === 'number';
}

let aggregator: AggregatorRegistry<PrometheusContentType> | undefined;

/** Primary: answer `worker`'s requests for the merged metrics of all workers. */
export function answerMetricsRequests(worker: Worker): void {
  aggregator ??= new AggregatorRegistry<PrometheusContentType>();
  const agg = aggregator;
  worker.on('message', (m: unknown) => {
    if (!isAsk(m)) return;
    agg.clusterMetrics().then(
      (text) => worker.isConnected() && worker.send({ warden: 'metrics', id: m.id, text } satisfies MetricsAnswer),
      (e: Error) => worker.isConnected() && worker.send({ warden: 'metrics', id: m.id, error: e.message } satisfies MetricsAnswer),
    );
  });
}

/**
 * Worker: hand `registry` to the primary when it collects, and return the function /metrics calls to get
 * every worker's metrics merged.
 */
export function clusterMetricsSource(registry: Registry): () => Promise<string> {
  if (!cluster.isWorker) throw new Error('clusterMetricsSource is for cluster workers');
  new AggregatorRegistry<PrometheusContentType>(); // installs the worker's answer to the primary's collection requests
  AggregatorRegistry.setRegistries([registry]);
  let next = 0;
  const pending = new Map<number, { resolve: (t: string) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  process.on('message', (m: unknown) => {
    if (!isAnswer(m)) return;
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    clearTimeout(p.timer);
    if (m.text !== undefined) p.resolve(m.text);
    else p.reject(new Error(`the primary could not merge the workers' metrics: ${m.error ?? 'no answer'}`));
  });
  return () =>
    new Promise<string>((resolve, reject) => {
      const id = next++;
      const timer = setTimeout(() => {
        pending.delete(id);
        reject(new Error(`the primary did not answer with the workers' metrics within ${ASK_TIMEOUT_MS} ms`));
      }, ASK_TIMEOUT_MS);
      timer.unref();
      pending.set(id, { resolve, reject, timer });
      process.send?.({ warden: 'metrics?', id } satisfies MetricsAsk);
    });
}

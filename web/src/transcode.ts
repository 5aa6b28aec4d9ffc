// Live transcode progress: finds the job queued for a video and follows it
// with TranscoderService.WatchJob, reconnecting when the stream breaks.
import { RenditionState, TranscodeJobState, type TranscodeJob } from "@gen/streamgate/transcoder/v1/transcoder_service_pb";
import { api, Code, ConnectError } from "./api";
import { formatDuration, h, progressBar, sleep } from "./dom";
import { seconds } from "./video";

// How long the job may take to appear after the upload completed: the
// transcoder queues it from the upload.completed event.
const jobAppearTimeoutMs = 60_000;

export interface TranscodeView {
  el: HTMLElement;
  /** done resolves with the terminal job (SUCCEEDED, FAILED or CANCELED). */
  done: Promise<TranscodeJob>;
}

/** followTranscode renders the encode of videoId until it ends or signal aborts. */
export function followTranscode(videoId: string, signal: AbortSignal): TranscodeView {
  const overall = progressBar("transcode-progress");
  const state = h("p", { class: "muted small" }, "Waiting for the encoder…");
  const rows = h("div", { class: "renditions" });
  const el = h("div", { class: "transcode" }, h("div", { class: "transcode-head" }, h("strong", null, "Encoding"), state), overall.el, rows);
  const bars = new Map<string, { row: HTMLElement; bar: ReturnType<typeof progressBar>; meta: HTMLElement }>();

  const draw = (job: TranscodeJob) => {
    overall.set(job.progressPercent);
    el.dataset.state = TranscodeJobState[job.state];
    const parts: string[] = [];
    switch (job.state) {
      case TranscodeJobState.QUEUED:
        parts.push(job.queuePosition > 0 ? `Queued (position ${job.queuePosition})` : "Queued");
        break;
      case TranscodeJobState.RUNNING:
        parts.push(job.attempt > 1 ? `Encoding, attempt ${job.attempt}` : "Encoding");
        if (job.speed > 0) parts.push(`${job.speed.toFixed(1)}× real time`);
        break;
      case TranscodeJobState.SUCCEEDED:
        parts.push("Done");
        break;
      case TranscodeJobState.FAILED:
        parts.push(`Failed: ${job.failureReason || "unknown reason"}`);
        break;
      case TranscodeJobState.CANCELED:
        parts.push("Canceled");
        break;
    }
    if (job.eta && job.state !== TranscodeJobState.SUCCEEDED) parts.push(`about ${formatDuration(seconds(job.eta))} left`);
    state.textContent = parts.join(" · ");
    for (const r of job.renditionProgress) {
      let b = bars.get(r.name);
      if (!b) {
        const bar = progressBar();
        const meta = h("span", { class: "muted small" });
        const row = h("div", { class: "rendition-row", "data-rendition": r.name }, h("span", { class: "rendition-name" }, r.name), bar.el, meta);
        rows.append(row);
        b = { row, bar, meta };
        bars.set(r.name, b);
      }
      b.bar.set(r.progressPercent);
      b.row.dataset.state = RenditionState[r.state];
      const m: string[] = [];
      if (r.height) m.push(`${r.width}×${r.height}`);
      if (r.segmentsTotal) m.push(`${r.segmentsDone}/${r.segmentsTotal} segments`);
      else if (r.segmentsDone) m.push(`${r.segmentsDone} segments`);
      if (r.state === RenditionState.RUNNING && job.speed > 0) m.push(`${job.speed.toFixed(1)}×`);
      if (r.state === RenditionState.SUCCEEDED) m.push("done");
      b.meta.textContent = m.join(" · ");
    }
  };

  const done = (async () => {
    const jobId = await findJob(videoId, signal);
    let last: TranscodeJob | undefined;
    let backoff = 500;
    for (;;) {
      try {
        for await (const res of api.transcoder.watchJob({ jobId }, { signal })) {
          if (res.event.case !== "job") continue;
          last = res.event.value;
          backoff = 500;
          draw(last);
        }
        if (last && isTerminal(last.state)) return last;
      } catch (err) {
        if (signal.aborted) throw err;
        if (!retryable(err)) throw err;
      }
      // The stream ended early (instance shut down, slow reader, network):
      // reconnect; the first message is the current snapshot again.
      await sleep(backoff, signal);
      backoff = Math.min(backoff * 2, 5_000);
    }
  })();
  return { el, done };
}

function isTerminal(s: TranscodeJobState): boolean {
  return s === TranscodeJobState.SUCCEEDED || s === TranscodeJobState.FAILED || s === TranscodeJobState.CANCELED;
}

function retryable(err: unknown): boolean {
  if (!(err instanceof ConnectError)) return true;
  // Unknown is what a dropped connection looks like from fetch.
  return err.code === Code.Unavailable || err.code === Code.ResourceExhausted || err.code === Code.Unknown;
}

// findJob returns the newest job of the video, waiting for it to be queued.
async function findJob(videoId: string, signal: AbortSignal): Promise<string> {
  const deadline = Date.now() + jobAppearTimeoutMs;
  let wait = 300;
  for (;;) {
    const res = await api.transcoder.listJobs({ videoId, pageSize: 1 }, { signal });
    const job = res.jobs[0];
    if (job) return job.id;
    if (Date.now() > deadline) throw new Error("No encoding job was queued for this video. Check the server's transcoder.");
    await sleep(wait, signal);
    wait = Math.min(wait * 2, 2_000);
  }
}


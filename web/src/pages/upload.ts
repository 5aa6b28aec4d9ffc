// Upload: CreateUpload opens a tus upload, tus-js-client sends the bytes to
// its URL (resumable across reloads), then the page follows validation and
// the encode until the video is ready.
import { UploadState, type Upload } from "@gen/streamgate/upload/v1/upload_service_pb";
import { TranscodeJobState } from "@gen/streamgate/transcoder/v1/transcoder_service_pb";
import { Packaging } from "@gen/streamgate/metadata/v1/metadata_service_pb";
import { api, cfg, Code, errorMessage, isCode } from "../api";
import { formatBytes, h, icon, icons, progressBar, sleep } from "../dom";
import { rerender, type PageContext } from "../router";
import { accessToken, session } from "../session";
import { followTranscode } from "../transcode";
import { errorBox, inlineError, pageHeader, signInPanel } from "../ui";

const pendingKey = "streamgate.uploads";
const chunkSize = 5 * 1024 * 1024;

/** Pending is what a reload needs to resume an unfinished upload. */
interface Pending {
  uploadId: string;
  uploadUrl: string;
  videoId: string;
  address: string;
  fileName: string;
  size: number;
  lastModified: number;
  title: string;
}

function readPending(): Pending[] {
  try {
    const v = JSON.parse(localStorage.getItem(pendingKey) ?? "[]") as Pending[];
    return Array.isArray(v) ? v : [];
  } catch {
    return [];
  }
}

function writePending(list: Pending[]): void {
  if (list.length) localStorage.setItem(pendingKey, JSON.stringify(list));
  else localStorage.removeItem(pendingKey);
}

function forget(uploadId: string): void {
  writePending(readPending().filter((p) => p.uploadId !== uploadId));
}

// defaultTitle derives a title from a file name: "my_trip.mp4" -> "my trip".
function defaultTitle(f: File): string {
  return f.name.replace(/\.[^.]+$/, "").replace(/[_]+/g, " ").trim().slice(0, 200);
}

// Browsers leave type empty for some containers; the server needs one.
function contentType(f: File): string {
  if (f.type) return f.type;
  const ext = f.name.split(".").pop()?.toLowerCase();
  return ({ mp4: "video/mp4", m4v: "video/mp4", mov: "video/quicktime", webm: "video/webm", mkv: "video/x-matroska" } as Record<string, string>)[ext ?? ""] ?? "application/octet-stream";
}

export function uploadPage({ root, signal }: PageContext): void {
  document.title = "Upload · StreamGate";
  const s = session();
  root.append(pageHeader("Upload a video", "Your file is sent in resumable chunks, checked, then encoded into an adaptive ladder for HLS and DASH."));
  if (!s) {
    root.append(h("div", { class: "narrow" }, signInPanel("Sign in to upload: the wallet you sign in with becomes the video's creator.", rerender)));
    return;
  }
  const limits = cfg().uploadLimits;
  const maxBytes = limits ? Number(limits.maxUploadBytes) : 0;
  const maxTitle = limits?.maxTitleLength || 200;

  const pendings = readPending().filter((p) => p.address === s.address);
  const resumeList = h("div", { class: "resume-list" });
  const err = inlineError();
  const file = h("input", { class: "file-input", type: "file", id: "upload-file", "data-testid": "upload-file", accept: limits?.allowedContentTypes.join(",") || "video/*" });
  const fileInfo = h("span", { class: "muted small" }, "MP4, MOV, WebM or MKV");
  const title = h("input", { class: "input", id: "upload-title", "data-testid": "upload-title", maxlength: maxTitle, placeholder: "Defaults to the file name", required: true, autocomplete: "off" });
  const description = h("textarea", { class: "input", id: "upload-description", rows: 3, maxlength: 5000, placeholder: "Optional" });
  // Packaging is read when the encode starts: chosen here, before the
  // first byte. Automatic is clear for a video uploaded public.
  const encrypt = h("input", { type: "checkbox", id: "upload-encrypt", "data-testid": "upload-encrypt" });
  const start = h("button", { class: "btn btn-primary", type: "submit", "data-testid": "upload-start" }, icon(icons.upload), "Start upload");
  const dropLabel = h("label", { class: "dropzone", for: "upload-file" }, icon(icons.film, "dropzone-icon"), h("strong", null, "Choose a video file"), fileInfo, file);
  const form = h(
    "form",
    { class: "card form", novalidate: true },
    dropLabel,
    h("div", { class: "field" }, h("label", { for: "upload-title" }, "Title"), title),
    h("div", { class: "field" }, h("label", { for: "upload-description" }, "Description"), description),
    h(
      "div",
      { class: "field" },
      h("label", { for: "upload-encrypt" }, encrypt, " Encrypt the media"),
      h("p", { class: "muted small" }, "Segments are encrypted as they are encoded and only viewers your access policy admits get the key, so a leaked link plays nothing. Choose it now if you will gate this video: it cannot be changed after the upload. Safari and iOS cannot play encrypted videos (no ClearKey)."),
    ),
    err.el,
    h("div", { class: "form-actions" }, start),
  );
  const progress = h("section", { class: "card stack", hidden: true });
  root.append(resumeList, form, progress);

  // resumeFor returns the pending upload the chosen file continues, if any.
  const resumeFor = (f: File | undefined) => (f ? pendings.find((p) => p.fileName === f.name && p.size === f.size) : undefined);

  file.addEventListener("change", () => {
    const f = file.files?.[0];
    err.hide();
    if (!f) return;
    fileInfo.textContent = `${f.name} · ${formatBytes(f.size)}`;
    dropLabel.classList.add("has-file");
    const p = resumeFor(f);
    // The file name is only a placeholder: the title stays what the user types.
    title.placeholder = p ? p.title : defaultTitle(f);
    start.replaceChildren(icon(icons.upload), p ? "Resume upload" : "Start upload");
  });

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    void begin();
  });

  async function begin(): Promise<void> {
    err.hide();
    const f = file.files?.[0];
    if (!f) return err.show(new Error("Choose a video file first."));
    const resume = resumeFor(f);
    const t = title.value.trim() || defaultTitle(f);
    if (!resume && !t) return err.show(new Error("Give the video a title."));
    if (maxBytes && f.size > maxBytes) return err.show(new Error(`This file is ${formatBytes(f.size)}; the limit is ${formatBytes(maxBytes)}.`));
    if (f.size === 0) return err.show(new Error("This file is empty."));
    start.disabled = true;
    try {
      let p = resume;
      if (!p) {
        const res = await api.upload.createUpload(
          { requestId: crypto.randomUUID(), title: t, description: description.value.trim(), sizeBytes: BigInt(f.size), contentType: contentType(f), filename: f.name },
          { signal },
        );
        const up = res.upload!;
        p = { uploadId: up.id, uploadUrl: up.tusUrl, videoId: up.videoId, address: s!.address, fileName: f.name, size: f.size, lastModified: f.lastModified, title: t };
        // Saved before the first byte so a reload can resume.
        writePending([...readPending().filter((x) => x.uploadId !== p!.uploadId), p]);
        if (encrypt.checked) {
          const v = (await api.metadata.getVideo({ videoId: up.videoId }, { signal })).video!;
          await api.metadata.updateVideo({ video: { ...v, packaging: Packaging.ENCRYPTED }, updateMask: { paths: ["packaging"] } }, { signal });
        }
      }
      form.hidden = true;
      resumeList.hidden = true;
      await run(p, f);
    } catch (e) {
      if (signal.aborted) return;
      start.disabled = false;
      err.show(e);
    }
  }

  // run sends the bytes, waits for validation and follows the encode.
  async function run(p: Pending, f: File | undefined): Promise<void> {
    progress.hidden = false;
    const bar = progressBar("upload-progress");
    const stage = h("p", { class: "muted small" }, "Connecting…");
    const cancel = h("button", { class: "btn btn-ghost", type: "button" }, "Cancel upload");
    progress.replaceChildren(h("div", { class: "upload-head" }, h("div", null, h("h2", null, p.title), h("p", { class: "muted small" }, `${p.fileName} · ${formatBytes(p.size)}`)), cancel), h("div", { class: "stage" }, h("strong", null, "Upload"), stage), bar.el);
    const ctl = new AbortController();
    signal.addEventListener("abort", () => ctl.abort(signal.reason), { once: true });
    cancel.addEventListener("click", async () => {
      cancel.disabled = true;
      ctl.abort(new DOMException("canceled", "AbortError"));
      try {
        await api.upload.cancelUpload({ uploadId: p.uploadId });
      } catch (e) {
        if (!isCode(e, Code.FailedPrecondition)) progress.append(errorBox(e));
      }
      forget(p.uploadId);
      rerender();
    });

    try {
      if (f) await sendBytes(p, f, ctl.signal, (sent) => {
        bar.set((sent / p.size) * 100, `${Math.floor((sent / p.size) * 100)}% · ${formatBytes(sent)} of ${formatBytes(p.size)}`);
        stage.textContent = "Sending…";
      });
      bar.set(100, `100% · ${formatBytes(p.size)}`);
      stage.textContent = "Checking the file…";
      const up = await waitValidated(p.uploadId, ctl.signal);
      forget(p.uploadId);
      if (up.state !== UploadState.COMPLETED) throw new Error(up.failureReason || `The upload ended ${UploadState[up.state].toLowerCase()}.`);
      stage.textContent = "Uploaded and checked";
      cancel.remove();
    } catch (e) {
      if (ctl.signal.aborted) return;
      progress.append(errorBox(e, () => rerender()));
      return;
    }
    await follow(p.videoId);
  }

  async function follow(videoId: string): Promise<void> {
    const view = followTranscode(videoId, signal);
    progress.append(view.el);
    try {
      const job = await view.done;
      if (job.state !== TranscodeJobState.SUCCEEDED) {
        progress.append(errorBox(new Error(job.failureReason || "Encoding did not finish.")));
        return;
      }
      progress.append(
        h(
          "div",
          { class: "notice notice-success", "data-testid": "video-ready", "data-video-id": videoId },
          icon(icons.check),
          h("div", { class: "notice-body" }, h("p", null, h("strong", null, "Your video is ready."), " It is public until you set an access policy.")),
          h("div", { class: "row" }, h("a", { class: "btn btn-primary", href: `/watch/${videoId}`, "data-link": true, "data-testid": "watch-link" }, icon(icons.play), "Watch"), h("a", { class: "btn btn-ghost", href: `/studio/${videoId}`, "data-link": true }, "Access settings")),
        ),
      );
    } catch (e) {
      if (!signal.aborted) progress.append(errorBox(e));
    }
  }

  // Unfinished uploads of this wallet, found in localStorage after a reload.
  for (const p of pendings) {
    const row = h("div", { class: "notice notice-info resume", "data-testid": "upload-resume", "data-upload-id": p.uploadId }, icon(icons.upload), h("div", { class: "notice-body" }, h("p", null, `Checking ${p.fileName}…`)));
    resumeList.append(row);
    void api.upload.getUpload({ uploadId: p.uploadId }, { signal }).then(
      (res) => {
        const up = res.upload!;
        switch (up.state) {
          case UploadState.CREATED:
          case UploadState.UPLOADING: {
            const pct = Math.floor((Number(up.offsetBytes) / Math.max(1, Number(up.sizeBytes))) * 100);
            row.replaceChildren(
              icon(icons.upload),
              h("div", { class: "notice-body" }, h("p", null, h("strong", null, `Resume ${p.fileName} (${pct}%)`)), h("p", { class: "small" }, `“${p.title}” stopped at ${formatBytes(Number(up.offsetBytes))} of ${formatBytes(p.size)}. Choose the same file below to continue where it left off.`)),
              h("button", { class: "btn btn-ghost", type: "button", onclick: async () => { try { await api.upload.cancelUpload({ uploadId: p.uploadId }); } catch { /* already gone */ } forget(p.uploadId); row.remove(); } }, "Discard"),
            );
            break;
          }
          case UploadState.VALIDATING:
          case UploadState.COMPLETED:
            // Every byte is in: carry on with validation and the encode.
            row.remove();
            form.hidden = true;
            void run(p, undefined);
            break;
          default:
            forget(p.uploadId);
            row.replaceChildren(icon(icons.alert), h("div", { class: "notice-body" }, h("p", null, `${p.fileName}: the upload ${UploadState[up.state].toLowerCase()}${up.failureReason ? ` (${up.failureReason})` : ""}. Start it again below.`)));
        }
      },
      (e) => {
        if (signal.aborted) return;
        if (isCode(e, Code.NotFound)) {
          forget(p.uploadId);
          row.remove();
        } else row.replaceChildren(icon(icons.alert), h("div", { class: "notice-body" }, h("p", null, `${p.fileName}: ${errorMessage(e)}`)));
      },
    );
  }
}

// sendBytes PATCHes the file to the upload's tus URL from the server's
// offset (tus-js-client asks HEAD first), in 5 MiB chunks.
async function sendBytes(p: Pending, f: File, signal: AbortSignal, onProgress: (sent: number) => void): Promise<void> {
  const { Upload } = await import("tus-js-client");
  await new Promise<void>((resolve, reject) => {
    const up = new Upload(f, {
      uploadUrl: p.uploadUrl,
      chunkSize,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      storeFingerprintForResuming: false,
      // Read the token on every request: a long upload outlives one token.
      onBeforeRequest: (req) => {
        const t = accessToken();
        if (t) req.setHeader("Authorization", `Bearer ${t}`);
      },
      onProgress: (sent) => onProgress(sent),
      onSuccess: () => resolve(),
      onError: (e) => reject(new Error(tusMessage(e))),
    });
    signal.addEventListener("abort", () => {
      void up.abort();
      reject(signal.reason);
    }, { once: true });
    up.start();
  });
}

function tusMessage(e: Error): string {
  const res = (e as { originalResponse?: { getStatus(): number; getBody(): string } | null }).originalResponse;
  if (res) {
    const body = res.getBody()?.trim();
    return `The upload was refused (HTTP ${res.getStatus()}${body ? `: ${body.slice(0, 200)}` : ""}).`;
  }
  return `The upload stopped: ${e.message}`;
}

// waitValidated polls GetUpload until hashing and probing are over: there
// is no stream for an upload's state, and validation takes seconds.
async function waitValidated(uploadId: string, signal: AbortSignal): Promise<Upload> {
  for (let wait = 300; ; wait = Math.min(wait * 1.5, 2_000)) {
    const up = (await api.upload.getUpload({ uploadId }, { signal })).upload!;
    if (up.state !== UploadState.UPLOADING && up.state !== UploadState.CREATED && up.state !== UploadState.VALIDATING) return up;
    await sleep(wait, signal);
  }
}

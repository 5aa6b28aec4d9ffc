// Watch: gets a playback token when the video is gated, asks streaming for
// the manifest URLs and plays HLS with hls.js (or natively). The token is
// renewed at 80% of its lifetime without restarting the player: every
// media request, licence requests included, is rewritten to carry the
// newest token. Encrypted media is decrypted through EME ClearKey with keys
// from streaming's licence endpoint (/play/<id>/licence).
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { AccessMode, TokenStandard, type AccessRule } from "@gen/streamgate/auth/v1/access_policy_pb";
import { PlaybackGrant } from "@gen/streamgate/auth/v1/auth_service_pb";
import { VideoStatus, type Video } from "@gen/streamgate/metadata/v1/metadata_service_pb";
import type { GetPlaybackInfoResponse } from "@gen/streamgate/streaming/v1/streaming_service_pb";
import { createPublicClient, getAddress, http, parseAbi } from "viem";
import { api, cfg, chainName, Code, errorMessage, isCode } from "../api";
import { formatDuration, h, icon, icons, shortAddress, sleep } from "../dom";
import type { PageContext } from "../router";
import { session } from "../session";
import { followTranscode } from "../transcode";
import { emptyState, errorBox, loading, signInPanel } from "../ui";
import { mintDemoPass } from "../wallet";
import { isGated, seconds } from "../video";

// How long to keep retrying after a mint: access decisions are cached for a
// few seconds server-side.
const accessRetryWindowMs = 20_000;

// A second licence refusal within this window, after a fresh token, is
// taken as final: the refusal screen rather than another reload.
const keyRefusalWindowMs = 30_000;

// refusalSays reports whether a refused request's body (streaming's 403)
// says text: that the wallet lacks the pass, or that a preview ends
// before a segment, rather than that the token was refused (expired,
// revoked), which a fresh token fixes.
function refusalSays(xhr: unknown, text: string): boolean {
  if (!(xhr instanceof XMLHttpRequest) || !(xhr.response instanceof ArrayBuffer)) return false;
  return new TextDecoder().decode(xhr.response).includes(text);
}

export async function watchPage({ root, params, signal }: PageContext): Promise<void> {
  const videoId = params.id ?? "";
  document.title = "Watch · StreamGate";
  root.append(loading("Loading video…"));
  let video: Video;
  try {
    video = (await api.metadata.getVideo({ videoId }, { signal })).video!;
  } catch (err) {
    if (signal.aborted) return;
    root.replaceChildren(
      isCode(err, Code.NotFound) || isCode(err, Code.InvalidArgument)
        ? emptyState("Video not found", "It may have been deleted, or the link is wrong.", h("a", { class: "btn btn-primary", href: "/", "data-link": true }, "Back to the library"))
        : errorBox(err, () => location.reload()),
    );
    return;
  }
  document.title = `${video.title} · StreamGate`;
  const me = session()?.address;
  const own = me === video.creatorAddress;

  const stage = h("div", { class: "stage-box" });
  const details = h(
    "section",
    { class: "watch-details" },
    h("div", { class: "watch-title-row" }, h("h1", null, video.title), own ? h("a", { class: "btn btn-ghost", href: `/studio/${video.id}`, "data-link": true }, icon(icons.edit), "Access & status") : null),
    h(
      "p",
      { class: "muted" },
      `By ${own ? "you" : shortAddress(video.creatorAddress)}`,
      video.duration ? ` · ${formatDuration(seconds(video.duration))}` : "",
      isGated(video) ? h("span", { class: "badge badge-gated" }, icon(icons.lock), "Gated") : h("span", { class: "badge" }, "Public"),
      video.encrypted ? h("span", { class: "badge", "data-testid": "encrypted-badge", title: "The media is encrypted: only viewers the policy admits get the key." }, "Encrypted") : null,
    ),
    video.description ? h("p", { class: "description" }, video.description) : null,
    video.tags.length ? h("div", { class: "tags" }, video.tags.map((t) => h("span", { class: "tag" }, `#${t}`))) : null,
  );
  root.replaceChildren(h("div", { class: "watch" }, stage, details));
  await mountPlayer(stage, video, signal);
}

/**
 * mountPlayer runs the player in stage for video: the waiting screens, the
 * sign-in for a gated video, the token, hls.js, the refusal screen (what
 * the policy needs, the dev mint). The watch page and the embed page share
 * it; signal stops it.
 */
export async function mountPlayer(stage: HTMLElement, video: Video, signal: AbortSignal): Promise<void> {
  const videoId = video.id;
  const own = session()?.address === video.creatorAddress;
  let stopPlayer: (() => void) | undefined;
  signal.addEventListener("abort", () => stopPlayer?.(), { once: true });
  // Where a free preview stopped: playback resumes there once the wallet
  // holds the pass, in the same page.
  let resumeAt = 0;
  // When a licence request was last refused (see keyRefusalWindowMs).
  let lastKeyRefusal = 0;

  // While nothing is playable yet, the waiting screen stays up (with the
  // live encode for the creator) and open() polls quietly underneath it.
  let waiting: AbortController | undefined;
  const show = (...nodes: Node[]) => {
    stopPlayer?.();
    stopPlayer = undefined;
    waiting?.abort();
    waiting = undefined;
    stage.replaceChildren(...nodes);
  };

  async function open(quiet = false): Promise<void> {
    if (!quiet) show(h("div", { class: "stage-message" }, loading("Checking access…")));
    if (video.status === VideoStatus.UPLOADING) return show(message("Still uploading", "This video becomes watchable once its file is in and encoded."));
    if (video.status === VideoStatus.FAILED) return show(message("This video failed", video.statusReason || "Its upload or encoding failed."));
    if (video.status === VideoStatus.DELETED) return show(message("Deleted", "The creator deleted this video."));
    let token = "";
    let tokenExpire = 0;
    let grant = PlaybackGrant.UNSPECIFIED;
    if (isGated(video)) {
      if (!session()) return show(h("div", { class: "stage-message" }, signInPanel(`This video is for holders of ${needs(video)}. Sign in with a wallet that holds it.`, () => void open())));
      try {
        const t = await api.auth.issuePlaybackToken({ videoId }, { signal });
        token = t.token;
        tokenExpire = t.expireTime ? timestampMs(t.expireTime) : 0;
        grant = t.grant;
      } catch (err) {
        if (signal.aborted) return;
        if (isCode(err, Code.PermissionDenied)) return show(denied(err));
        if (isCode(err, Code.FailedPrecondition)) return notPlayable(err);
        return show(h("div", { class: "stage-message" }, errorBox(err, () => void open())));
      }
    }
    let info: GetPlaybackInfoResponse;
    try {
      info = await api.streaming.getPlaybackInfo({ videoId, token }, { signal });
    } catch (err) {
      if (signal.aborted) return;
      if (isCode(err, Code.PermissionDenied)) return show(denied(err));
      if (isCode(err, Code.FailedPrecondition)) return notPlayable(err);
      return show(h("div", { class: "stage-message" }, errorBox(err, () => void open())));
    }
    await play(info, token, tokenExpire, grant);
  }

  // notPlayable: the video is still encoding and has no segment yet.
  function notPlayable(err: unknown): void {
    if (!waiting) {
      const processing = video.status === VideoStatus.PROCESSING;
      const box = h(
        "div",
        { class: "stage-message" },
        h("h2", null, processing ? "Encoding has just started" : "Not playable yet"),
        h("p", { class: "muted" }, processing ? "Playback starts by itself as soon as the first segments are ready." : errorMessage(err)),
      );
      show(box);
      waiting = new AbortController();
      if (own && processing) {
        const view = followTranscode(videoId, AbortSignal.any([signal, waiting.signal]));
        box.append(view.el);
        // It is stopped on purpose once playback starts.
        view.done.catch(() => {});
      }
    }
    // Poll for the first segment: playback may start while encoding.
    const w = waiting;
    void sleep(3_000, AbortSignal.any([signal, w.signal])).then(() => open(true), () => {});
  }

  async function play(info: GetPlaybackInfoResponse, firstToken: string, firstExpire: number, grant: PlaybackGrant): Promise<void> {
    let token = firstToken;
    const preview = grant === PlaybackGrant.PREVIEW;
    const videoEl = h("video", { class: "player", "data-testid": "player", "data-grant": preview ? "preview" : "full", controls: true, playsinline: true, preload: "auto", poster: info.posterUrl || null });
    const liveBadge = info.live ? h("span", { class: "badge badge-live stage-badge" }, "Encoding: live") : null;
    const previewBadge = preview ? h("span", { class: "badge stage-badge", "data-testid": "preview-badge" }, `Free preview: ${video.accessPolicy?.previewSeconds ?? 0} s`) : null;
    show(h("div", { class: "player-wrap" }, videoEl, liveBadge, previewBadge));
    const start = preview ? 0 : resumeAt;
    // The preview's manifests end at its cut: at the end, what unlocks
    // the rest, and the position to come back to. hls.js also reports a
    // stall just short of the end (an audio track a few ms shorter than
    // the video), where Chromium never fires "ended".
    let previewOver = false;
    const previewEnded = () => {
      if (!preview || previewOver) return;
      previewOver = true;
      resumeAt = videoEl.currentTime;
      show(denied(null, "The free preview has ended."));
    };
    videoEl.addEventListener("ended", previewEnded);
    const cleanups: (() => void)[] = [];
    stopPlayer = () => cleanups.forEach((c) => c());

    // withToken puts the current token on a media URL (the query parameter
    // wins over a header on the play path, so it must be the fresh one).
    const withToken = (u: string) => {
      if (!token) return u;
      const url = new URL(u, location.href);
      if (!url.pathname.startsWith("/play/")) return u;
      url.searchParams.set("token", token);
      return url.toString();
    };

    // Start playing at once, as a viewer who opened the page expects;
    // browsers that refuse sound without a gesture get a muted start.
    const autoplay = () => {
      videoEl.play().catch(() => {
        videoEl.muted = true;
        void videoEl.play().catch(() => {});
      });
    };

    const { default: Hls } = await import("hls.js");
    if (signal.aborted) return;
    if (Hls.isSupported()) {
      const hls = new Hls({
        xhrSetup: (xhr, url) => xhr.open("GET", withToken(url), true),
        // Encoding videos are EVENT playlists: start from the beginning,
        // or where a preview stopped.
        startPosition: start,
        // Encrypted renditions (an EXT-X-KEY with KEYFORMAT
        // "org.w3.clearkey") get their keys from the licence endpoint;
        // clear ones never touch EME.
        emeEnabled: true,
        drmSystems: { "org.w3.clearkey": { licenseUrl: info.licenceUrl || new URL("licence", new URL(info.hlsUrl, location.href)).toString() } },
        // The newest token, as for every other media request. No
        // Content-Type: the POST stays a simple request, no preflight.
        licenseXhrSetup: (xhr, url) => xhr.open("POST", withToken(url), true),
      });
      cleanups.push(() => hls.destroy());
      // Where a preview's media ends: its playlists' length.
      let cutAt = 0;
      if (preview) hls.on(Hls.Events.LEVEL_LOADED, (_e, data) => { if (!data.details.live) cutAt = data.details.totalduration; });
      hls.on(Hls.Events.ERROR, (_e, data) => {
        if (!data.fatal) return;
        if (data.type === Hls.ErrorTypes.KEY_SYSTEM_ERROR && data.response && (data.response.code === 401 || data.response.code === 403)) {
          // The key was refused. Past a preview, or without the pass:
          // what unlocks it. Else the token was (expired, revoked): once,
          // a fresh token and the player again from here.
          resumeAt = videoEl.currentTime;
          const again = Date.now() - lastKeyRefusal < keyRefusalWindowMs;
          lastKeyRefusal = Date.now();
          if (refusalSays(data.networkDetails, "pass is needed") || again) show(denied(null, preview ? "The free preview has ended." : "The key to this video was refused."));
          else void open(true);
          return;
        }
        if (preview && data.type === Hls.ErrorTypes.NETWORK_ERROR && refusalSays(data.networkDetails, "free preview ends")) {
          // A segment past the cut (a manifest read before the video was
          // gated lists the whole video): the preview is over.
          previewEnded();
          return;
        }
        if (data.type === Hls.ErrorTypes.NETWORK_ERROR && data.response && (data.response.code === 401 || data.response.code === 403)) {
          // The token was refused (expired or revoked): renew it, which
          // shows the refusal screen when the wallet no longer qualifies.
          void renew().then(() => hls.startLoad());
          return;
        }
        if (preview && cutAt > 0 && videoEl.currentTime >= cutAt - 1) {
          // Whatever stops a preview at its cut, the viewer has seen it all.
          previewEnded();
          return;
        }
        if (data.details === Hls.ErrorDetails.KEY_SYSTEM_NO_ACCESS) {
          show(message("This browser cannot decrypt this video", "It is encrypted for ClearKey, which Safari and iOS do not offer. Try Chrome, Firefox or Edge."));
          return;
        }
        if (data.type === Hls.ErrorTypes.NETWORK_ERROR) hls.startLoad();
        else if (data.type === Hls.ErrorTypes.MEDIA_ERROR) hls.recoverMediaError();
        else show(message("Playback failed", data.details));
      });
      hls.once(Hls.Events.MANIFEST_PARSED, autoplay);
      hls.on(Hls.Events.MEDIA_ENDED, previewEnded);
      if (preview) {
        // And when neither comes (hls.js only marks the end of stream
        // once every track is buffered to the end): playback within a
        // second of the cut that has moved less than half a second in the
        // last two is its end too. Movement, not an unchanged position:
        // hls.js nudges a stalled playhead forward a tenth at a time. A
        // viewer's pause or seek starts the two seconds again.
        let seen: number[] = [];
        const poll = setInterval(() => {
          const t = videoEl.currentTime;
          seen = videoEl.paused || videoEl.seeking ? [] : [...seen.slice(-4), t];
          const still = seen.length === 5 && Math.max(...seen) - Math.min(...seen) < 0.5;
          if (cutAt > 0 && still && t >= cutAt - 1) previewEnded();
        }, 500);
        cleanups.push(() => clearInterval(poll));
      }
      // The EVENT playlist turns VOD when the encode finishes: the badge goes.
      if (liveBadge) hls.on(Hls.Events.LEVEL_UPDATED, (_e, data) => { if (!data.details.live) liveBadge.remove(); });
      hls.loadSource(info.hlsUrl);
      hls.attachMedia(videoEl);
    } else if (videoEl.canPlayType("application/vnd.apple.mpegurl")) {
      videoEl.src = info.hlsUrl;
      videoEl.addEventListener("loadedmetadata", () => { if (start) videoEl.currentTime = start; autoplay(); }, { once: true });
      if (liveBadge) videoEl.addEventListener("durationchange", () => { if (Number.isFinite(videoEl.duration)) liveBadge.remove(); });
      cleanups.push(() => {
        videoEl.removeAttribute("src");
        videoEl.load();
      });
    } else {
      show(message("This browser cannot play HLS", "Try a recent Chrome, Firefox, Edge or Safari."));
      return;
    }

    // Renew the token at 80% of its lifetime, for as long as the page is open.
    let issuedAt = Date.now();
    let expire = firstExpire;
    let timer: ReturnType<typeof setTimeout> | undefined;
    cleanups.push(() => clearTimeout(timer));
    const schedule = () => {
      if (!expire) return;
      const at = issuedAt + (expire - issuedAt) * 0.8;
      timer = setTimeout(() => void renew(), Math.max(1_000, at - Date.now()));
    };
    async function renew(): Promise<void> {
      clearTimeout(timer);
      try {
        const t = await api.auth.issuePlaybackToken({ videoId }, { signal });
        token = t.token;
        issuedAt = Date.now();
        expire = t.expireTime ? timestampMs(t.expireTime) : 0;
        if (!Hls.isSupported()) {
          // Native HLS cannot rewrite requests: swap the source in place.
          const at = videoEl.currentTime;
          const paused = videoEl.paused;
          const fresh = await api.streaming.getPlaybackInfo({ videoId, token }, { signal });
          videoEl.src = fresh.hlsUrl;
          videoEl.currentTime = at;
          if (!paused) void videoEl.play().catch(() => {});
        }
        schedule();
      } catch (err) {
        if (signal.aborted) return;
        if (isCode(err, Code.PermissionDenied)) show(denied(err));
        else timer = setTimeout(() => void renew(), 5_000);
      }
    }
    schedule();
  }

  // denied is the refusal screen: what the policy asks for and, on a dev
  // server, a button that mints the demo pass to the signed-in wallet.
  function denied(err: unknown, lead?: string): HTMLElement {
    const config = cfg();
    const rules = video.accessPolicy?.rules ?? [];
    const addr = session()?.address ?? "";
    const status = h("div", { class: "denied-status", role: "status" });
    const retry = h("button", { class: "btn btn-ghost", type: "button", "data-testid": "retry-access", onclick: () => void open() }, "Try again");
    const actions = h("div", { class: "row center" }, retry);
    const demoChain = config.devMode ? config.chains.find((c) => c.rpcUrl && c.demoNftContractAddress && rules.some((r) => r.chainId === c.chainId && sameAddress(r.contractAddress, c.demoNftContractAddress))) : undefined;
    if (demoChain && addr) {
      const mint = h("button", { class: "btn btn-primary", type: "button", "data-testid": "mint-demo" }, "Mint a demo pass to this wallet");
      mint.addEventListener("click", async () => {
        mint.disabled = retry.disabled = true;
        status.replaceChildren(loading("Minting a StreamGate Pass…"));
        try {
          const tx = await mintDemoPass(demoChain, addr);
          status.replaceChildren(loading(`Minted (tx ${shortAddress(tx)}). Checking access…`));
          await retryAccess();
        } catch (e) {
          if (signal.aborted) return;
          status.replaceChildren(errorBox(e));
          mint.disabled = retry.disabled = false;
        }
      });
      actions.prepend(mint);
    }
    const heading = h("h2", null, `You need ${needs(video)}`);
    // Name the collection in the heading once the chain tells its name.
    const ruleList = h("ul", { class: "rules" }, rules.map((r, i) => ruleItem(r, i === 0 && rules.length === 1 ? (n) => (heading.textContent = `You need a ${n} on ${chainName(r.chainId)}`) : undefined)));
    return h(
      "div",
      { class: "stage-message denied", "data-testid": "access-denied" },
      icon(icons.lock, "denied-icon"),
      heading,
      lead ? h("p", { "data-testid": "preview-ended" }, lead) : null,
      h("p", { class: "muted" }, addr ? `Your wallet ${shortAddress(addr)} does not hold it yet. ` : "This video is gated. ", rules.length > 1 ? (video.accessPolicy?.mode === AccessMode.ALL ? "All of these are required:" : "Any one of these is enough:") : "This video requires:"),
      ruleList,
      actions,
      status,
      err ? h("p", { class: "muted small denied-detail" }, errorMessage(err)) : null,
    );
  }

  // retryAccess asks for a token until the new holding is seen, with
  // backoff, for up to accessRetryWindowMs.
  async function retryAccess(): Promise<void> {
    const deadline = Date.now() + accessRetryWindowMs;
    for (let wait = 500; ; wait = Math.min(wait * 2, 4_000)) {
      try {
        // A preview token is not yet the pass: keep asking.
        const t = await api.auth.issuePlaybackToken({ videoId }, { signal });
        if (t.grant !== PlaybackGrant.PREVIEW) {
          await open();
          return;
        }
        if (Date.now() + wait > deadline) throw new Error("The pass is minted, but the server does not see it yet: try again in a moment.");
      } catch (err) {
        if (!isCode(err, Code.PermissionDenied) || Date.now() + wait > deadline) throw err;
      }
      await sleep(wait, signal);
    }
  }

  await open();
}

function message(title: string, text: string): HTMLElement {
  return h("div", { class: "stage-message" }, icon(icons.film, "denied-icon"), h("h2", null, title), h("p", { class: "muted" }, text));
}

function sameAddress(a: string, b: string): boolean {
  return a.toLowerCase() === b.toLowerCase();
}

const standardName: Record<TokenStandard, string> = {
  [TokenStandard.UNSPECIFIED]: "token",
  [TokenStandard.ERC721]: "ERC-721",
  [TokenStandard.ERC1155]: "ERC-1155",
  [TokenStandard.ERC20]: "ERC-20",
};

// needs summarises the first rule: "a token of 0x… on StreamGate Dev".
function needs(v: Video): string {
  const r = v.accessPolicy?.rules[0];
  if (!r) return "a token";
  return `${ruleWhat(r)} on ${chainName(r.chainId)}`;
}

function ruleWhat(r: AccessRule): string {
  const c = shortAddress(r.contractAddress);
  if (r.tokenId) return `token #${r.tokenId} of ${c}`;
  if (r.standard === TokenStandard.ERC20) return `${r.minBalance && r.minBalance !== "1" ? r.minBalance : "some"} ERC-20 units of ${c}`;
  return `an ${standardName[r.standard]} token of ${c}`;
}

// ruleItem lists one rule, naming the collection when its chain publishes
// an RPC URL the browser can read it from.
function ruleItem(r: AccessRule, onName?: (name: string) => void): HTMLElement {
  const nameEl = h("strong", null, `${standardName[r.standard]} token`);
  const extra = [r.tokenId ? `token #${r.tokenId}` : "", r.minBalance && r.minBalance !== "1" ? `at least ${r.minBalance}` : ""].filter(Boolean).join(" · ");
  const li = h("li", null, h("div", null, nameEl, h("span", { class: "muted" }, ` on ${chainName(r.chainId)}`), extra ? h("span", { class: "muted" }, ` · ${extra}`) : null), h("code", { class: "address" }, r.contractAddress));
  const chain = cfg().chains.find((c) => c.chainId === r.chainId);
  if (chain?.rpcUrl) {
    const client = createPublicClient({ transport: http(chain.rpcUrl) });
    client
      .readContract({ address: getAddress(r.contractAddress), abi: parseAbi(["function name() view returns (string)"]), functionName: "name" })
      .then((n) => {
        if (!n) return;
        nameEl.textContent = `${n} (${standardName[r.standard]})`;
        onName?.(n);
      })
      .catch(() => {});
  }
  return li;
}

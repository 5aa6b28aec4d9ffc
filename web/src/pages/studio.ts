// Studio: the creator's view of one video: its status (with the live encode
// while it runs) and the access policy form.
import { AccessMode, TokenStandard, type AccessPolicy } from "@gen/streamgate/auth/v1/access_policy_pb";
import { VideoStatus, type Video } from "@gen/streamgate/metadata/v1/metadata_service_pb";
import { isAddress, getAddress } from "viem";
import { api, cfg, Code, isCode } from "../api";
import { formatBytes, formatDuration, h, icon, icons } from "../dom";
import { rerender, type PageContext } from "../router";
import { session } from "../session";
import { followTranscode } from "../transcode";
import { emptyState, errorBox, inlineError, loading, pageHeader, signInPanel } from "../ui";
import { isGated, seconds, statusLabel } from "../video";

const uint256 = /^(0|[1-9][0-9]{0,77})$/;

export async function studioPage({ root, params, signal }: PageContext): Promise<void> {
  const videoId = params.id ?? "";
  document.title = "Studio · StreamGate";
  const s = session();
  if (!s) {
    root.append(pageHeader("Studio"), h("div", { class: "narrow" }, signInPanel("Sign in with the wallet that uploaded this video to manage it.", rerender)));
    return;
  }
  root.append(loading("Loading video…"));
  let video: Video;
  try {
    video = (await api.metadata.getVideo({ videoId }, { signal })).video!;
  } catch (err) {
    if (signal.aborted) return;
    root.replaceChildren(isCode(err, Code.NotFound) || isCode(err, Code.InvalidArgument) ? emptyState("Video not found", "It may have been deleted, or the link is wrong.") : errorBox(err, rerender));
    return;
  }
  document.title = `${video.title} · Studio · StreamGate`;
  if (video.creatorAddress !== s.address) {
    root.replaceChildren(emptyState("Not your video", `Only its creator (${video.creatorAddress}) can change this video. You are signed in as ${s.address}.`, h("a", { class: "btn btn-primary", href: `/watch/${video.id}`, "data-link": true }, "Watch it"), icons.lock));
    return;
  }

  const statusCard = h("section", { class: "card stack" });
  const drawStatus = () => {
    const rows: [string, string][] = [["Status", statusLabel[video.status]]];
    if (video.statusReason) rows.push(["Reason", video.statusReason]);
    if (video.duration) rows.push(["Duration", formatDuration(seconds(video.duration))]);
    rows.push(["Access", isGated(video) ? "Gated" : "Public"]);
    if (video.renditions.length) rows.push(["Renditions", video.renditions.map((r) => (r.height ? `${r.name} (${r.width}×${r.height}, ${formatBytes(Number(r.sizeBytes))})` : r.name)).join(", ")]);
    rows.push(["Video id", video.id]);
    statusCard.replaceChildren(
      h("div", { class: "card-head" }, h("h2", null, "Status"), h("span", { class: `badge badge-status status-${VideoStatus[video.status].toLowerCase()}`, "data-testid": "video-status" }, statusLabel[video.status])),
      h("dl", { class: "facts" }, rows.flatMap(([k, v]) => [h("dt", null, k), h("dd", null, v)])),
      ...(video.status === VideoStatus.READY || video.status === VideoStatus.PROCESSING ? [h("a", { class: "btn btn-ghost", href: `/watch/${video.id}`, "data-link": true }, icon(icons.play), "Watch")] : []),
    );
  };
  drawStatus();

  root.replaceChildren(pageHeader(video.title, "Studio: status, who may watch and where it may be embedded."), h("div", { class: "studio" }, h("div", { class: "stack" }, policyCard(), embedCard()), statusCard));

  if (video.status === VideoStatus.PROCESSING) {
    const view = followTranscode(video.id, signal);
    statusCard.append(view.el);
    view.done.then(
      async () => {
        video = (await api.metadata.getVideo({ videoId }, { signal })).video!;
        drawStatus();
      },
      (e) => !signal.aborted && statusCard.append(errorBox(e)),
    );
  }

  function embedCard(): HTMLElement {
    const snippet = h("textarea", { class: "input mono", id: "embed-snippet", "data-testid": "embed-snippet", readonly: true, rows: 4, spellcheck: false }, embedSnippet(video.id));
    const copied = h("span", { class: "muted small", role: "status" });
    const copy = h("button", { class: "btn btn-ghost", type: "button", "data-testid": "embed-copy" }, "Copy");
    copy.addEventListener("click", async () => {
      snippet.select();
      try {
        await navigator.clipboard.writeText(snippet.value);
        copied.textContent = "Copied.";
      } catch {
        copied.textContent = "Selected: press Ctrl+C (⌘C) to copy.";
      }
    });
    const origins = h("textarea", { class: "input mono", id: "embed-origins", "data-testid": "embed-origins", rows: 3, spellcheck: false, placeholder: "https://your-site.example" }, video.allowedOrigins.join("\n"));
    const err = inlineError();
    const saved = h("div", { class: "notice notice-success", "data-testid": "embed-origins-saved", hidden: true }, icon(icons.check), h("div", { class: "notice-body" }, h("p", null, "Saved. The list applies to playback tokens issued from now on.")));
    origins.addEventListener("input", () => (saved.hidden = true));
    const save = h("button", { class: "btn btn-primary", type: "submit", "data-testid": "embed-origins-save" }, "Save allowed sites");
    const form = h(
      "form",
      { class: "card stack", "data-testid": "embed-form", novalidate: true },
      h("div", { class: "card-head" }, h("h2", null, "Embed")),
      field("Embed code", "embed-snippet", snippet),
      h("div", { class: "row" }, copy, copied),
      field("Sites allowed to embed and play it", "embed-origins", origins, "One origin a line, such as https://blog.example.com (scheme, host and port; no path). Empty: any site. Players that send no origin (apps, the CLI) are not limited: the playback token is what grants access."),
      err.el,
      h("div", { class: "form-actions" }, save),
      saved,
    );
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      err.hide();
      saved.hidden = true;
      const list = origins.value.split(/[\s,]+/).map((o) => o.trim()).filter(Boolean);
      save.disabled = true;
      try {
        const res = await api.metadata.updateVideo({ video: { ...video, allowedOrigins: list }, updateMask: { paths: ["allowed_origins"] } }, { signal });
        video = res.video!;
        origins.value = video.allowedOrigins.join("\n");
        saved.hidden = false;
      } catch (e2) {
        if (signal.aborted) return;
        if (isCode(e2, Code.Aborted)) {
          try {
            video = (await api.metadata.getVideo({ videoId }, { signal })).video!;
          } catch {
            /* the error below says enough */
          }
          err.show(new Error("The video changed in the meantime. It has been reloaded: save again."));
        } else err.show(e2);
      } finally {
        save.disabled = false;
      }
    });
    return form;
  }

  function policyCard(): HTMLElement {
    const config = cfg();
    const rule = video.accessPolicy?.rules[0];
    const gated = isGated(video);
    const err = inlineError();
    const saved = h("div", { class: "notice notice-success", "data-testid": "policy-saved", hidden: true }, icon(icons.check), h("div", { class: "notice-body" }, h("p", null, "Saved. The new policy applies to the next playback token.")));

    const kind = h("select", { class: "input", id: "policy-kind", "data-testid": "policy-kind" }, h("option", { value: "public" }, "Public: anyone may watch"), h("option", { value: "nft" }, "NFT holders only"));
    kind.value = gated ? "nft" : "public";
    const chain = h("select", { class: "input", id: "policy-chain", "data-testid": "policy-chain" }, config.chains.map((c) => h("option", { value: String(c.chainId) }, `${c.name} (${c.chainId})`)));
    if (rule) chain.value = String(rule.chainId);
    const demoFor = (id: string) => (config.devMode ? config.chains.find((c) => String(c.chainId) === id)?.demoNftContractAddress ?? "" : "");
    const contract = h("input", { class: "input mono", id: "policy-contract", "data-testid": "policy-contract", placeholder: "0x…", spellcheck: false, autocomplete: "off", value: rule?.contractAddress ?? demoFor(chain.value) });
    const standard = h("select", { class: "input", id: "policy-standard", "data-testid": "policy-standard" }, h("option", { value: String(TokenStandard.ERC721) }, "ERC-721"), h("option", { value: String(TokenStandard.ERC1155) }, "ERC-1155"), h("option", { value: String(TokenStandard.ERC20) }, "ERC-20"));
    if (rule) standard.value = String(rule.standard);
    const tokenId = h("input", { class: "input mono", id: "policy-token-id", "data-testid": "policy-token-id", inputmode: "numeric", placeholder: "Any", value: rule?.tokenId ?? "" });
    const minBalance = h("input", { class: "input mono", id: "policy-min-balance", "data-testid": "policy-min-balance", inputmode: "numeric", placeholder: "1", value: rule?.minBalance ?? "" });
    const preview = h("input", { class: "input mono", id: "policy-preview", "data-testid": "policy-preview", inputmode: "numeric", placeholder: "0", value: video.accessPolicy?.previewSeconds ? String(video.accessPolicy.previewSeconds) : "" });
    const hint = h("p", { class: "muted small" });
    const nftFields = h(
      "div",
      { class: "stack" },
      field("Chain", "policy-chain", chain),
      field("Token contract", "policy-contract", contract, config.devMode && demoFor(chain.value) ? "Prefilled with the dev chain's demo collection (StreamGate Pass)." : undefined),
      h("div", { class: "grid-2" }, field("Standard", "policy-standard", standard), field("Token id", "policy-token-id", tokenId), field("Minimum balance", "policy-min-balance", minBalance)),
      field("Free preview (seconds)", "policy-preview", preview, "Viewers without the pass may watch this much of the start; 0 or empty: none."),
      hint,
    );
    const syncFields = () => {
      nftFields.hidden = kind.value !== "nft";
      const std = Number(standard.value) as TokenStandard;
      tokenId.disabled = std === TokenStandard.ERC20;
      tokenId.placeholder = std === TokenStandard.ERC1155 ? "Required" : std === TokenStandard.ERC20 ? "Not used" : "Any";
      minBalance.disabled = std === TokenStandard.ERC721 && tokenId.value.trim() !== "";
      hint.textContent =
        std === TokenStandard.ERC721 ? "Viewers need a token of this collection (or exactly this token id when set)." : std === TokenStandard.ERC1155 ? "Viewers need at least the minimum balance of this token id." : "Viewers need at least the minimum balance, in the token's smallest unit.";
      saved.hidden = true;
    };
    kind.addEventListener("change", syncFields);
    standard.addEventListener("change", syncFields);
    tokenId.addEventListener("input", syncFields);
    chain.addEventListener("change", () => {
      const demo = demoFor(chain.value);
      if (demo && !contract.value.trim()) contract.value = demo;
      syncFields();
    });
    contract.addEventListener("input", () => (saved.hidden = true));
    preview.addEventListener("input", () => (saved.hidden = true));
    syncFields();

    const save = h("button", { class: "btn btn-primary", type: "submit", "data-testid": "policy-save" }, "Save access policy");
    const form = h("form", { class: "card stack", "data-testid": "policy-form", novalidate: true }, h("div", { class: "card-head" }, h("h2", null, "Who may watch")), field("Access", "policy-kind", kind), nftFields, packagingNote(video), err.el, h("div", { class: "form-actions" }, save), saved);

    const build = (): AccessPolicy | Error => {
      if (kind.value !== "nft") return { $typeName: "streamgate.auth.v1.AccessPolicy", mode: AccessMode.PUBLIC, rules: [], previewSeconds: 0 };
      const addr = contract.value.trim();
      if (!isAddress(addr, { strict: false })) return new Error("Enter the token contract as 0x followed by 40 hex digits.");
      if (addr !== addr.toLowerCase() && addr !== getAddress(addr)) return new Error("That address has a wrong checksum: check for a typo, or paste it in lower case.");
      const std = Number(standard.value) as TokenStandard;
      const id = tokenId.value.trim();
      const min = minBalance.value.trim();
      if (id && !uint256.test(id)) return new Error("The token id must be a whole number.");
      if (min && (!uint256.test(min) || min === "0")) return new Error("The minimum balance must be a whole number of at least 1.");
      if (std === TokenStandard.ERC1155 && !id) return new Error("ERC-1155 needs a token id.");
      const pv = preview.value.trim();
      if (pv && (!/^[0-9]{1,4}$/.test(pv) || Number(pv) > 3600)) return new Error("The free preview is a whole number of seconds, at most 3600.");
      return {
        $typeName: "streamgate.auth.v1.AccessPolicy",
        mode: AccessMode.ALL,
        previewSeconds: pv ? Number(pv) : 0,
        rules: [{ $typeName: "streamgate.auth.v1.AccessRule", chainId: BigInt(chain.value), contractAddress: addr, standard: std, tokenId: std === TokenStandard.ERC20 || !id ? undefined : id, minBalance: minBalance.disabled ? "" : min }],
      };
    };

    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      err.hide();
      saved.hidden = true;
      const policy = build();
      if (policy instanceof Error) return err.show(policy);
      save.disabled = true;
      try {
        const res = await api.metadata.updateVideo({ video: { ...video, accessPolicy: policy }, updateMask: { paths: ["access_policy"] } }, { signal });
        video = res.video!;
        saved.hidden = false;
        drawStatus();
      } catch (e2) {
        if (signal.aborted) return;
        if (isCode(e2, Code.Aborted)) {
          // Someone else changed the video meanwhile: take the fresh copy.
          try {
            video = (await api.metadata.getVideo({ videoId }, { signal })).video!;
            drawStatus();
          } catch {
            /* the error below says enough */
          }
          err.show(new Error("The video changed in the meantime. It has been reloaded: review and save again."));
        } else err.show(e2);
      } finally {
        save.disabled = false;
      }
    });
    return form;
  }
}

// embedCard: the iframe snippet to copy, and the origins allowed to embed
// and play the video (Video.allowed_origins; empty: any site).
function embedSnippet(videoId: string): string {
  const src = `${location.origin}/embed/${encodeURIComponent(videoId)}`;
  return `<iframe src="${src}" width="640" height="360" allow="autoplay; fullscreen; picture-in-picture" allowfullscreen style="border:0"></iframe>`;
}

function field(label: string, id: string, control: HTMLElement, help?: string): HTMLElement {
  return h("div", { class: "field" }, h("label", { for: id }, label), control, help ? h("p", { class: "muted small" }, help) : null);
}

// packagingNote says what a policy protects: the keys of encrypted media,
// or the URLs of clear media (packaging is chosen at upload).
function packagingNote(video: Video): HTMLElement {
  const text = video.encrypted
    ? "The media is encrypted: the policy decides who gets its key, at every key request."
    : video.status === VideoStatus.READY
      ? "The media is in clear: the policy guards its URLs (playback tokens). Encryption is chosen at upload."
      : "Encrypted if the video is gated when its encode starts (or if chosen at upload).";
  return h("p", { class: "muted small", "data-testid": "packaging-note" }, text);
}

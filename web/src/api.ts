// The Connect clients, over one transport that adds the session's bearer
// token, and the client configuration the gateway publishes.
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { AuthService } from "@gen/streamgate/auth/v1/auth_service_pb";
import { GatewayService, type GetClientConfigResponse } from "@gen/streamgate/gateway/v1/gateway_service_pb";
import { MetadataService } from "@gen/streamgate/metadata/v1/metadata_service_pb";
import { StreamingService } from "@gen/streamgate/streaming/v1/streaming_service_pb";
import { TranscoderService } from "@gen/streamgate/transcoder/v1/transcoder_service_pb";
import { UploadService } from "@gen/streamgate/upload/v1/upload_service_pb";

let bearer: () => string | undefined = () => undefined;

/** setBearerSource tells the transport where the current session token lives. */
export function setBearerSource(f: () => string | undefined): void {
  bearer = f;
}

const authInterceptor: Interceptor = (next) => async (req) => {
  const token = bearer();
  if (token && !req.header.has("Authorization")) req.header.set("Authorization", `Bearer ${token}`);
  return next(req);
};

// The API shares the app's origin: the gateway serves both.
const transport = createConnectTransport({
  baseUrl: location.origin,
  useBinaryFormat: false,
  interceptors: [authInterceptor],
});

export const api = {
  gateway: createClient(GatewayService, transport),
  auth: createClient(AuthService, transport),
  metadata: createClient(MetadataService, transport),
  upload: createClient(UploadService, transport),
  transcoder: createClient(TranscoderService, transport),
  streaming: createClient(StreamingService, transport),
};

let config: GetClientConfigResponse | undefined;

/** loadConfig fetches GetClientConfig once; it only changes with the gateway's configuration. */
export async function loadConfig(): Promise<GetClientConfigResponse> {
  config ??= await api.gateway.getClientConfig({});
  return config;
}

/** cfg returns the loaded configuration (main loads it before any page renders). */
export function cfg(): GetClientConfigResponse {
  if (!config) throw new Error("client configuration not loaded");
  return config;
}

/** chainName names a chain id from the configuration. */
export function chainName(chainId: bigint): string {
  const c = config?.chains.find((c) => c.chainId === chainId);
  return c?.name || `chain ${chainId}`;
}

/** isCode reports whether err is a ConnectError with the given code. */
export function isCode(err: unknown, code: Code): boolean {
  return err instanceof ConnectError && err.code === code;
}

/** errorMessage turns any error into a sentence for people. */
export function errorMessage(err: unknown): string {
  if (err instanceof ConnectError) {
    const msg = err.rawMessage;
    switch (err.code) {
      case Code.Unavailable:
        return msg ? `The service is unavailable right now (${msg}). Try again in a moment.` : "The service is unavailable right now. Try again in a moment.";
      case Code.Unauthenticated:
        return msg ? `Please sign in again: ${msg}.` : "Please sign in again.";
      case Code.ResourceExhausted:
        return msg ? `Limit reached: ${msg}.` : "Too many requests: try again shortly.";
      case Code.Unimplemented:
        return "This feature is not available on this server yet.";
      default:
        return msg || err.message;
    }
  }
  if (err instanceof Error) return err.message;
  return String(err);
}

export { Code, ConnectError };

// Compiled by `make ts-check` (never emitted): proves the generated
// descriptors type-check as Connect clients for every service.
import { createClient, type Transport } from "@connectrpc/connect";
import { AuthService } from "./src/streamgate/auth/v1/auth_service_pb";
import { CacheService } from "./src/streamgate/cache/v1/cache_service_pb";
import { GatewayService } from "./src/streamgate/gateway/v1/gateway_service_pb";
import { MetadataService } from "./src/streamgate/metadata/v1/metadata_service_pb";
import { MonitorService } from "./src/streamgate/monitor/v1/monitor_service_pb";
import { StreamingService } from "./src/streamgate/streaming/v1/streaming_service_pb";
import { TranscoderService } from "./src/streamgate/transcoder/v1/transcoder_service_pb";
import { UploadService } from "./src/streamgate/upload/v1/upload_service_pb";
import { WorkerService } from "./src/streamgate/worker/v1/worker_service_pb";

export function clients(transport: Transport) {
  const metadata = createClient(MetadataService, transport);
  const transcoder = createClient(TranscoderService, transport);
  return {
    auth: createClient(AuthService, transport),
    cache: createClient(CacheService, transport),
    gateway: createClient(GatewayService, transport),
    metadata,
    monitor: createClient(MonitorService, transport),
    streaming: createClient(StreamingService, transport),
    transcoder,
    upload: createClient(UploadService, transport),
    worker: createClient(WorkerService, transport),
    // Typed calls: a unary read and a server stream.
    getVideo: (videoId: string) => metadata.getVideo({ videoId }),
    watchJob: (jobId: string) => transcoder.watchJob({ jobId }),
  };
}

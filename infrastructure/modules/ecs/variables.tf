variable "name" {
  description = "Name prefix of every resource (cluster, load balancer, roles, log groups /<name>/ecs/...)."
  type        = string
}

variable "aws_region" {
  description = "Region of the stack (AWS_REGION)."
  type        = string
}

# Network

variable "vpc_id" {
  description = "VPC of the load balancer and the tasks."
  type        = string
}

variable "vpc_cidr" {
  description = "CIDR of the VPC: the data stores' range, and TRUSTED_PROXIES (the load balancer's addresses)."
  type        = string
}

variable "public_subnet_ids" {
  description = "Subnets of the load balancer."
  type        = list(string)
}

variable "private_subnet_ids" {
  description = "Subnets of the tasks."
  type        = list(string)
}

variable "task_egress_ports" {
  description = "TCP ports the tasks may reach on the internet (add a YTDLP_PROXY's port here)."
  type        = list(number)
  default     = [80, 443]
}

# Load balancer

variable "certificate_arn" {
  description = "ACM certificate of the HTTPS listener."
  type        = string

  validation {
    condition     = can(regex("^arn:[^:]+:acm:[^:]+:[0-9]{12}:certificate/.+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "alb_ingress_cidrs" {
  description = "IPv4 ranges allowed to reach the load balancer."
  type        = list(string)
  default     = ["0.0.0.0/0"]
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the load balancer until this is turned off."
  type        = bool
  default     = true
}

variable "alb_idle_timeout" {
  description = "Seconds an idle connection (a quiet progress WebSocket) stays open."
  type        = number
  default     = 120
}

variable "alb_access_logs_bucket" {
  description = "Existing bucket (with the ELB log-delivery policy) for access logs; null disables them."
  type        = string
  default     = null
}

# Image, encryption, logs

variable "image" {
  description = "Container image of every task (<repository url>:<tag>)."
  type        = string
}

variable "cpu_architecture" {
  description = "Architecture the image is built for: X86_64 or ARM64."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "ecr_repository_arn" {
  description = "Repository the execution role may pull from."
  type        = string
}

variable "kms_key_arn" {
  description = "Key of the log groups and secrets (and of the bucket when s3_kms_encrypted)."
  type        = string
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the tasks' logs."
  type        = number
  default     = 30
}

# Storage and broker

variable "bucket_name" {
  description = "S3_BUCKET_NAME."
  type        = string
}

variable "bucket_arn" {
  description = "ARN of the bucket."
  type        = string
}

variable "s3_prefix" {
  description = "S3_PREFIX: the only part of the bucket the tasks may touch."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$", var.s3_prefix))
    error_message = "s3_prefix must be a non-empty path without leading or trailing slashes."
  }
}

variable "s3_kms_encrypted" {
  description = "Whether the bucket uses SSE-KMS with kms_key_arn (the task roles then need the key)."
  type        = bool
}

variable "cloudfront_domain" {
  description = "S3_CLOUDFRONT_DOMAIN; empty for presigned S3 URLs."
  type        = string
  default     = ""
}

variable "use_sqs_broker" {
  description = "Use SQS as the Celery broker (BROKER_URL=sqs://) instead of Redis."
  type        = bool
  default     = false
}

variable "sqs_queue_arns" {
  description = "Broker queues the tasks may use when use_sqs_broker."
  type        = list(string)
  default     = []
}

variable "queue_depth_metrics" {
  description = "Metrics of jobs waiting for a worker, summed (the three SQS download queues, or the app's yds_queue_depth published to CloudWatch); workers scale on the sum per task, or on CPU when empty."
  type = list(object({
    namespace  = string
    name       = string
    dimensions = map(string)
  }))
  default = []
}

# App settings

variable "presigned_url_ttl" {
  description = "PRESIGNED_URL_TTL, seconds."
  type        = number
}

variable "file_retention_hours" {
  description = "FILE_RETENTION_HOURS; 0 keeps files."
  type        = number
}

variable "max_concurrent_downloads" {
  description = "MAX_CONCURRENT_DOWNLOADS per worker task."
  type        = number
}

variable "download_timeout" {
  description = "DOWNLOAD_TIMEOUT, seconds."
  type        = number
}

variable "worker_shutdown_grace_seconds" {
  description = "WORKER_SHUTDOWN_GRACE_SECONDS: must leave time, within the 120 s stop timeout, to hand jobs back."
  type        = number

  validation {
    condition     = var.worker_shutdown_grace_seconds >= 0 && var.worker_shutdown_grace_seconds <= 90
    error_message = "worker_shutdown_grace_seconds must be between 0 and 90 (ECS kills the task 120 s after SIGTERM)."
  }
}

variable "log_level" {
  description = "LOG_LEVEL."
  type        = string
}

variable "ytdlp_update" {
  description = "YTDLP_UPDATE (off, stable or nightly)."
  type        = string
  default     = "off"
}

variable "cors_origins" {
  description = "CORS_ORIGINS; empty disables CORS."
  type        = list(string)
  default     = []
}

# Secrets (ARNs in Secrets Manager)

variable "database_url_secret_arn" {
  description = "Secret holding DATABASE_URL."
  type        = string
}

variable "redis_url_secret_arn" {
  description = "Secret holding REDIS_URL."
  type        = string
}

variable "api_key_secret_arn" {
  description = "Secret holding API_KEY_SECRET."
  type        = string
}

variable "bootstrap_admin_api_key_secret_arn" {
  description = "Secret holding BOOTSTRAP_ADMIN_API_KEY, or null."
  type        = string
  default     = null
}

variable "ytdlp_proxy_secret_arn" {
  description = "Secret holding YTDLP_PROXY, or null."
  type        = string
  default     = null
}

# Sizes and scaling

variable "api_cpu" {
  description = "CPU units of an API task (1024 = 1 vCPU)."
  type        = number
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.api_cpu)
    error_message = "api_cpu must be a Fargate size: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "api_memory" {
  description = "Memory of an API task, MiB."
  type        = number
  default     = 1024
}

variable "api_min_count" {
  description = "Fewest API tasks (also the initial count)."
  type        = number
  default     = 2
}

variable "api_max_count" {
  description = "Most API tasks."
  type        = number
  default     = 6
}

variable "api_cpu_target" {
  description = "Average CPU % the API scales to keep."
  type        = number
  default     = 60
}

variable "api_requests_per_target" {
  description = "Requests per API task per minute the API scales to keep."
  type        = number
  default     = 1000
}

variable "worker_cpu" {
  description = "CPU units of a worker task (ffmpeg merges and converts)."
  type        = number
  default     = 1024

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.worker_cpu)
    error_message = "worker_cpu must be a Fargate size: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "worker_memory" {
  description = "Memory of a worker task, MiB."
  type        = number
  default     = 2048
}

variable "worker_min_count" {
  description = "Fewest worker tasks (also the initial count); at least 1."
  type        = number
  default     = 1

  validation {
    condition     = var.worker_min_count >= 1
    error_message = "worker_min_count must be at least 1 (queued jobs would otherwise wait for a scale-out that divides by zero tasks)."
  }
}

variable "worker_max_count" {
  description = "Most worker tasks."
  type        = number
  default     = 10
}

variable "worker_ephemeral_storage_gib" {
  description = "Ephemeral storage of a worker task, GiB (21-200): WORK_DIR holds downloads before upload."
  type        = number
  default     = 50

  validation {
    condition     = var.worker_ephemeral_storage_gib >= 21 && var.worker_ephemeral_storage_gib <= 200
    error_message = "worker_ephemeral_storage_gib must be between 21 and 200."
  }
}

variable "worker_cpu_target" {
  description = "Average CPU % the workers scale to keep when no queue metric is available."
  type        = number
  default     = 60
}

variable "worker_backlog_per_task" {
  description = "Queued jobs per worker task the workers scale to keep when a queue metric is available."
  type        = number
  default     = 4
}

variable "worker_use_fargate_spot" {
  description = "Run workers beyond the first on Fargate Spot."
  type        = bool
  default     = false
}

variable "pot_provider_enabled" {
  description = "Run bgutil's PO-token provider as a sidecar of each worker task (YTDLP_POT_PROVIDER_URL)."
  type        = bool
  default     = true
}

variable "pot_provider_image" {
  description = "The PO-token provider's image, pinned (its major version matches the bgutil-ytdlp-pot-provider plugin's)."
  type        = string
  default     = "brainicism/bgutil-ytdlp-pot-provider:2.0.2"
}

variable "enable_xray_tracing" {
  description = "Trace requests and jobs into AWS X-Ray: the AWS Distro for OpenTelemetry collector beside the API and each worker, and TRACING_ENABLED with OTEL_* on their containers."
  type        = bool
  default     = false
}

variable "xray_collector_image" {
  description = "The AWS Distro for OpenTelemetry collector's image, pinned."
  type        = string
  default     = "public.ecr.aws/aws-observability/aws-otel-collector:v0.45.1"
}

variable "asr_enabled" {
  description = "Speech recognition for videos without captions: a transcription worker beside each worker task (ASR_ENABLED)."
  type        = bool
  default     = false
}

variable "asr_model" {
  description = "ASR_MODEL: the path of a Whisper model converted for CTranslate2 inside the image (build an image with the model under /models); required with asr_enabled."
  type        = string
  default     = ""
}

variable "asr_concurrency" {
  description = "Recognitions one transcription worker runs at once (ASR_CONCURRENCY)."
  type        = number
  default     = 1
}

variable "asr_compute_type" {
  description = "CTranslate2's compute type on the CPU (ASR_COMPUTE_TYPE)."
  type        = string
  default     = "int8"
}

variable "asr_timeout" {
  description = "Seconds a recognition may run before the job completes with its media and asr_failed (ASR_TIMEOUT)."
  type        = number
  default     = 3600
}

variable "beat_cpu" {
  description = "CPU units of the beat task."
  type        = number
  default     = 256

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096, 8192, 16384], var.beat_cpu)
    error_message = "beat_cpu must be a Fargate size: 256, 512, 1024, 2048, 4096, 8192 or 16384."
  }
}

variable "beat_memory" {
  description = "Memory of the beat task, MiB."
  type        = number
  default     = 512
}

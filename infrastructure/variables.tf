# Naming and placement

variable "aws_region" {
  description = "Region to deploy to (AWS_REGION of the tasks)."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.aws_region))
    error_message = "aws_region must be a region name such as eu-west-1."
  }
}

variable "name" {
  description = "Short name of the service; resources are named <name>-<environment>."
  type        = string
  default     = "yds"

  # Short enough for every derived name: IAM role prefixes such as
  # <name>-<environment>-rds-monitoring- may be at most 38 characters.
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,11}$", var.name))
    error_message = "name must be 2-12 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name: dev, staging or prod."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}

# Network

variable "vpc_cidr" {
  description = "CIDR block of the VPC (/16 to /20)."
  type        = string
  default     = "10.40.0.0/16"
}

variable "availability_zones" {
  description = "Two or three availability zones of aws_region, e.g. [\"eu-west-1a\", \"eu-west-1b\"]."
  type        = list(string)

  validation {
    condition     = alltrue([for zone in var.availability_zones : can(regex("^${var.aws_region}[a-z]$", zone))])
    error_message = "availability_zones must be zones of aws_region, such as eu-west-1a."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (dev) instead of one per zone (prod)."
  type        = bool
  default     = false
}

variable "flow_logs_enabled" {
  description = "Record VPC flow logs in CloudWatch Logs."
  type        = bool
  default     = true
}

variable "task_egress_ports" {
  description = "TCP ports the tasks may reach on the internet; add your YTDLP_PROXY's port."
  type        = list(number)
  default     = [80, 443]

  validation {
    condition     = alltrue([for port in var.task_egress_ports : port >= 1 && port <= 65535 && floor(port) == port])
    error_message = "task_egress_ports must hold TCP port numbers."
  }
}

# Load balancer

variable "acm_certificate_arn" {
  description = "ACM certificate (same region) for the HTTPS listener."
  type        = string

  validation {
    condition     = can(regex("^arn:[^:]+:acm:[^:]+:[0-9]{12}:certificate/.+$", var.acm_certificate_arn))
    error_message = "acm_certificate_arn must be an ACM certificate ARN."
  }
}

variable "alb_ingress_cidrs" {
  description = "IPv4 ranges allowed to reach the API."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = alltrue([for cidr in var.alb_ingress_cidrs : can(cidrhost(cidr, 0))])
    error_message = "alb_ingress_cidrs must hold IPv4 CIDR blocks."
  }
}

variable "alb_deletion_protection" {
  description = "Refuse to delete the load balancer until turned off."
  type        = bool
  default     = true
}

variable "alb_access_logs_bucket" {
  description = "Existing bucket (with the ELB log-delivery policy) for load balancer access logs; null disables them."
  type        = string
  default     = null
}

# Image

variable "image_tag" {
  description = "Tag of the image in the ECR repository to run, e.g. a git commit (tags are immutable)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && var.image_tag != "latest"
    error_message = "image_tag must be a valid, specific Docker tag (not \"latest\": tags are immutable)."
  }
}

variable "cpu_architecture" {
  description = "Architecture of the image: X86_64 or ARM64 (Graviton, cheaper)."
  type        = string
  default     = "X86_64"
}

variable "ecr_keep_images" {
  description = "Images kept in the repository."
  type        = number
  default     = 30
}

# Storage

variable "s3_bucket_name" {
  description = "Bucket name; null uses <name>-<environment>-files-<account id>."
  type        = string
  default     = null
}

variable "s3_prefix" {
  description = "S3_PREFIX: key prefix of the app's objects; the task roles are limited to it."
  type        = string
  default     = "downloads"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$", var.s3_prefix))
    error_message = "s3_prefix must be a non-empty path such as \"downloads\" or \"yds/prod\", without leading or trailing slashes."
  }
}

variable "s3_kms_encryption" {
  description = "Encrypt the bucket with the stack's KMS key (SSE-KMS) instead of SSE-S3 (AES256)."
  type        = bool
  default     = true
}

variable "s3_versioning" {
  description = "Version the bucket (deleted files then linger as noncurrent versions for 7 days)."
  type        = bool
  default     = false
}

variable "s3_force_destroy" {
  description = "Let `terraform destroy` delete the bucket with its files."
  type        = bool
  default     = false
}

variable "enable_cloudfront" {
  description = "Serve files through CloudFront (S3_CLOUDFRONT_DOMAIN) instead of presigned S3 URLs."
  type        = bool
  default     = false
}

variable "cloudfront_price_class" {
  description = "CloudFront price class: PriceClass_100, PriceClass_200 or PriceClass_All."
  type        = string
  default     = "PriceClass_100"
}

variable "cloudfront_aliases" {
  description = "Custom domains of the distribution (need cloudfront_certificate_arn)."
  type        = list(string)
  default     = []
}

variable "cloudfront_certificate_arn" {
  description = "ACM certificate in us-east-1 for cloudfront_aliases; null serves *.cloudfront.net."
  type        = string
  default     = null
}

# Database and Redis

variable "db_engine_version" {
  description = "PostgreSQL version; a major (\"16\") lets RDS apply minor upgrades."
  type        = string
  default     = "16"
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
  default     = "db.t4g.medium"
}

variable "db_allocated_storage_gb" {
  description = "Initial database storage, GB."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage_gb" {
  description = "Database storage autoscaling ceiling, GB."
  type        = number
  default     = 100
}

variable "db_multi_az" {
  description = "Keep a standby database in another zone."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days automated database backups are kept (1-35)."
  type        = number
  default     = 7
}

variable "db_deletion_protection" {
  description = "Refuse to delete the database until turned off."
  type        = bool
  default     = true
}

variable "db_performance_insights" {
  description = "Turn on Performance Insights (not offered on the smallest classes)."
  type        = bool
  default     = true
}

variable "db_monitoring_interval" {
  description = "Seconds between Enhanced Monitoring samples (0 turns it off)."
  type        = number
  default     = 60
}

variable "redis_engine_version" {
  description = "Redis engine version."
  type        = string
  default     = "7.1"
}

variable "redis_node_type" {
  description = "ElastiCache node type."
  type        = string
  default     = "cache.t4g.small"
}

variable "redis_num_cache_clusters" {
  description = "Redis nodes: 1, or 2+ for a replica with automatic failover."
  type        = number
  default     = 2
}

variable "redis_snapshot_retention_days" {
  description = "Days Redis snapshots are kept (0 disables them)."
  type        = number
  default     = 1
}

variable "secrets_recovery_window_days" {
  description = "Days a deleted secret can be restored (0 deletes at once)."
  type        = number
  default     = 7
}

# Broker

variable "use_sqs_broker" {
  description = "Use SQS (queues \"downloads-high\", \"downloads\", \"downloads-low\", \"maintenance\" and \"transcription\") as the Celery broker instead of Redis."
  type        = bool
  default     = false
}

variable "sqs_dead_letter_queues" {
  description = "Give each SQS queue a dead-letter queue."
  type        = bool
  default     = true
}

variable "sqs_max_receive_count" {
  description = "Receives of one message before it goes to the dead-letter queue."
  type        = number
  default     = 5
}

# App settings passed to every task

variable "presigned_url_ttl" {
  description = "PRESIGNED_URL_TTL: seconds a presigned download URL is valid."
  type        = number
  default     = 3600

  validation {
    condition     = var.presigned_url_ttl >= 60 && var.presigned_url_ttl <= 604800
    error_message = "presigned_url_ttl must be between 60 and 604800 seconds (7 days)."
  }
}

variable "file_retention_hours" {
  description = "FILE_RETENTION_HOURS: files are deleted this long after their job completed; 0 keeps them. S3 expires objects under the prefix too, rounded up to whole days."
  type        = number
  default     = 0

  validation {
    condition     = var.file_retention_hours >= 0
    error_message = "file_retention_hours must be 0 or more."
  }
}

variable "max_concurrent_downloads" {
  description = "MAX_CONCURRENT_DOWNLOADS per worker task."
  type        = number
  default     = 2

  validation {
    condition     = var.max_concurrent_downloads >= 1 && var.max_concurrent_downloads <= 64
    error_message = "max_concurrent_downloads must be between 1 and 64."
  }
}

variable "download_timeout" {
  description = "DOWNLOAD_TIMEOUT: seconds a job may run. The SQS visibility timeout is this plus 720 s, at most 12 hours."
  type        = number
  default     = 3600

  validation {
    condition     = var.download_timeout >= 30 && var.download_timeout <= 42480
    error_message = "download_timeout must be between 30 and 42480 seconds (SQS hides a message for at most 12 hours)."
  }
}

variable "worker_shutdown_grace_seconds" {
  description = "WORKER_SHUTDOWN_GRACE_SECONDS: on SIGTERM, running jobs may finish this long before they are handed back (ECS kills at 120 s)."
  type        = number
  default     = 60
}

variable "log_level" {
  description = "LOG_LEVEL of every process."
  type        = string
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL."
  }
}

variable "ytdlp_update" {
  description = "YTDLP_UPDATE: off, stable or nightly. Each worker task installs the newest yt-dlp at start and every day, checks it and switches to it once idle (on the task's ephemeral storage); it needs HTTPS to PyPI."
  type        = string
  default     = "off"

  validation {
    condition     = contains(["off", "stable", "nightly"], var.ytdlp_update)
    error_message = "ytdlp_update must be off, stable or nightly."
  }
}

variable "cors_origins" {
  description = "CORS_ORIGINS: browser origins allowed to call the API; empty disables CORS."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for origin in var.cors_origins : origin == "*" || can(regex("^https?://", origin))])
    error_message = "cors_origins entries must be * or start with http:// or https://."
  }
}

variable "bootstrap_admin_api_key" {
  description = "BOOTSTRAP_ADMIN_API_KEY (from `python -m app.cli api-keys generate`), stored in Secrets Manager; null for none."
  type        = string
  default     = null
  sensitive   = true
}

variable "ytdlp_proxy" {
  description = "YTDLP_PROXY, an http://[user:password@]host:port proxy for YouTube traffic, stored in Secrets Manager; null for none. Add its port to task_egress_ports."
  type        = string
  default     = null
  sensitive   = true
}

# Tasks

variable "api_cpu" {
  description = "CPU units of an API task (1024 = 1 vCPU)."
  type        = number
  default     = 512
}

variable "api_memory" {
  description = "Memory of an API task, MiB."
  type        = number
  default     = 1024
}

variable "api_min_count" {
  description = "Fewest API tasks."
  type        = number
  default     = 2
}

variable "api_max_count" {
  description = "Most API tasks."
  type        = number
  default     = 6
}

variable "api_requests_per_target" {
  description = "Requests per API task per minute the API scales to keep."
  type        = number
  default     = 1000
}

variable "pot_provider_enabled" {
  description = "Run bgutil's PO-token provider as a sidecar of each worker task; YouTube asks many clients for PO tokens."
  type        = bool
  default     = true
}

variable "pot_provider_image" {
  description = "The PO-token provider's image, pinned to the plugin's major version (requirements.txt)."
  type        = string
  default     = "brainicism/bgutil-ytdlp-pot-provider:2.0.2"
}

variable "enable_xray_tracing" {
  description = "Trace requests and jobs into AWS X-Ray: the AWS Distro for OpenTelemetry collector beside the API and each worker (they send spans to it on the task's loopback)."
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

  validation {
    condition     = !var.asr_enabled || var.asr_model != ""
    error_message = "asr_enabled needs asr_model: the path of the model inside the image."
  }
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

variable "worker_cpu" {
  description = "CPU units of a worker task."
  type        = number
  default     = 1024
}

variable "worker_memory" {
  description = "Memory of a worker task, MiB."
  type        = number
  default     = 2048
}

variable "worker_min_count" {
  description = "Fewest worker tasks (at least 1)."
  type        = number
  default     = 1
}

variable "worker_max_count" {
  description = "Most worker tasks."
  type        = number
  default     = 10
}

variable "worker_ephemeral_storage_gib" {
  description = "Disk of a worker task, GiB (21-200): downloads wait in WORK_DIR until uploaded."
  type        = number
  default     = 50
}

variable "worker_backlog_per_task" {
  description = "Queued jobs per worker task the workers scale to keep (with a queue metric)."
  type        = number
  default     = 4
}

variable "worker_use_fargate_spot" {
  description = "Run workers beyond the first on Fargate Spot."
  type        = bool
  default     = false
}

variable "queue_depth_metric" {
  description = "With a Redis broker: a CloudWatch metric fed from the app's /metrics yds_queue_depth (e.g. by the CloudWatch agent's Prometheus scraping). Workers then scale on it and an alarm watches it; null scales workers on CPU."
  type = object({
    namespace  = string
    name       = string
    dimensions = map(string)
  })
  default = null
}

# Observability

variable "log_retention_days" {
  description = "Days CloudWatch keeps logs."
  type        = number
  default     = 30

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ...)."
  }
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic notified by the alarms; null only records alarm states."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_sns_topic_arn == null || can(regex("^arn:[^:]+:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", var.alarm_sns_topic_arn))
    error_message = "alarm_sns_topic_arn must be an SNS topic ARN."
  }
}

variable "queue_depth_alarm_threshold" {
  description = "Waiting jobs that, held for 15 minutes, raise the queue alarm."
  type        = number
  default     = 100
}

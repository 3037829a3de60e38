locals {
  # Plain settings, the same in every container so the API, workers, beat and migrations
  # agree. ECS wants strings. Empty values mean "the app's default" (no broker override, no
  # CloudFront, no CORS).
  environment = {
    ENVIRONMENT                   = "aws"
    STORAGE_BACKEND               = "s3"
    HOST                          = "0.0.0.0"
    PORT                          = tostring(local.container_port)
    LOG_LEVEL                     = var.log_level
    S3_BUCKET_NAME                = var.bucket_name
    S3_PREFIX                     = var.s3_prefix
    S3_CLOUDFRONT_DOMAIN          = var.cloudfront_domain
    AWS_REGION                    = var.aws_region
    AWS_DEFAULT_REGION            = var.aws_region
    PRESIGNED_URL_TTL             = tostring(var.presigned_url_ttl)
    FILE_RETENTION_HOURS          = tostring(var.file_retention_hours)
    MAX_CONCURRENT_DOWNLOADS      = tostring(var.max_concurrent_downloads)
    DOWNLOAD_TIMEOUT              = tostring(var.download_timeout)
    WORKER_SHUTDOWN_GRACE_SECONDS = tostring(var.worker_shutdown_grace_seconds)
    WORK_DIR                      = "/tmp/work"
    DOWNLOAD_BASE_PATH            = "/tmp/downloads"
    TRUSTED_PROXIES               = var.vpc_cidr
    # Past the ALB's idle timeout, so the ALB never reuses a connection the API is closing.
    API_KEEP_ALIVE_SECONDS = tostring(var.alb_idle_timeout + 5)
    CORS_ORIGINS           = join(",", var.cors_origins)
    BROKER_URL             = var.use_sqs_broker ? "sqs://" : ""
    # yt-dlp updates go to the image's /data/ytdlp (YTDLP_UPDATE_DIR), on ephemeral storage.
    YTDLP_UPDATE = var.ytdlp_update
    # Speech recognition: the API refuses transcribe requests while it is off.
    ASR_ENABLED      = tostring(var.asr_enabled)
    ASR_MODEL        = var.asr_model
    ASR_CONCURRENCY  = tostring(var.asr_concurrency)
    ASR_COMPUTE_TYPE = var.asr_compute_type
    ASR_TIMEOUT      = tostring(var.asr_timeout)
  }

  # Secrets are injected by ECS from Secrets Manager (valueFrom), never as plain values.
  required_secrets = {
    DATABASE_URL   = var.database_url_secret_arn
    REDIS_URL      = var.redis_url_secret_arn
    API_KEY_SECRET = var.api_key_secret_arn
  }
  optional_secrets = {
    BOOTSTRAP_ADMIN_API_KEY = var.bootstrap_admin_api_key_secret_arn
    YTDLP_PROXY             = var.ytdlp_proxy_secret_arn
  }
  secrets = merge(
    local.required_secrets,
    { for name, arn in local.optional_secrets : name => arn if arn != null },
  )

  container_base = {
    image       = var.image
    essential   = true
    user        = "10001"
    environment = [for name, value in local.environment : { name = name, value = value }]
    secrets     = [for name, arn in local.secrets : { name = name, valueFrom = arn }]
    # Fargate's maximum: on SIGTERM a worker hands its running jobs back to the queue
    # (WORKER_SHUTDOWN_GRACE_SECONDS) before it is killed.
    stopTimeout = 120
    # An init process forwards SIGTERM to Celery/uvicorn and reaps ffmpeg's children.
    linuxParameters = { initProcessEnabled = true }
    # Downloads, yt-dlp's and deno's caches and the beat schedule are written to the
    # container's writable layer, which Fargate keeps on the task's ephemeral storage.
    readonlyRootFilesystem = false
  }

  # bgutil's PO-token server beside each worker. A task's containers share one loopback:
  # the worker reaches the server there, and the server reaches the worker's egress guard,
  # which the plugin hands it as the proxy for its own requests to YouTube. Not essential:
  # without it downloads go on, only without PO tokens.
  pot_provider_port = 4416
  pot_provider_containers = var.pot_provider_enabled ? [{
    name             = "pot-provider"
    image            = var.pot_provider_image
    essential        = false
    portMappings     = [{ containerPort = local.pot_provider_port, protocol = "tcp" }]
    logConfiguration = local.log_configuration["worker"]
  }] : []
  worker_environment = concat(
    local.container_base.environment,
    var.pot_provider_enabled ? [{ name = "YTDLP_POT_PROVIDER_URL", value = "http://127.0.0.1:${local.pot_provider_port}" }] : [],
    local.tracing_environment,
  )

  # AWS X-Ray: the AWS Distro for OpenTelemetry collector beside the API and each worker
  # takes the app's spans over OTLP/HTTP on the task's loopback and sends them to X-Ray
  # (its ecs-xray configuration; the task role may write traces). Not essential: without
  # it the app goes on and its spans are dropped. Beat and migrations trace nothing.
  otlp_http_port = 4318
  tracing_environment = var.enable_xray_tracing ? [
    { name = "TRACING_ENABLED", value = "true" },
    { name = "OTEL_TRACES_EXPORTER", value = "otlp" },
    { name = "OTEL_EXPORTER_OTLP_ENDPOINT", value = "http://127.0.0.1:${local.otlp_http_port}" },
  ] : []
  xray_collector_containers = {
    for role in ["api", "worker"] : role => var.enable_xray_tracing ? [{
      name             = "xray-collector"
      image            = var.xray_collector_image
      essential        = false
      command          = ["--config=/etc/ecs/ecs-xray.yaml"]
      logConfiguration = local.log_configuration[role]
    }] : []
  }

  # The transcription worker: its own queue and concurrency, so a long recognition never
  # holds a download slot. It reads the audio a download leaves in WORK_DIR, so it runs in
  # the worker task and both mount the task's "work" volume there. Not essential: if it
  # dies, downloads go on and waiting jobs complete with their media and asr_failed.
  work_mount = var.asr_enabled ? [{ sourceVolume = "work", containerPath = local.environment.WORK_DIR }] : []
  transcription_containers = var.asr_enabled ? [merge(local.container_base, {
    name             = "transcription"
    essential        = false
    command          = ["celery", "-A", "app.core.celery_app", "worker", "-Q", "transcription", "-c", tostring(var.asr_concurrency), "-n", "transcription@%h"]
    environment      = local.worker_environment
    mountPoints      = local.work_mount
    logConfiguration = local.log_configuration["worker"]
  })] : []

  log_configuration = {
    for role in local.roles : role => {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.this[role].name
        awslogs-region        = var.aws_region
        awslogs-stream-prefix = role
      }
    }
  }
}

resource "aws_ecs_task_definition" "api" {
  family                   = "${var.name}-api"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.api_cpu
  memory                   = var.api_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.api.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode(concat([merge(local.container_base, {
    name             = "api"
    command          = ["python", "-m", "app.serve"]
    environment      = concat(local.container_base.environment, local.tracing_environment)
    portMappings     = [{ containerPort = local.container_port, protocol = "tcp" }]
    logConfiguration = local.log_configuration["api"]
    healthCheck = {
      command     = ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:${local.container_port}/health', timeout=3)"]
      interval    = 30
      timeout     = 5
      retries     = 3
      startPeriod = 30
    }
  })], local.xray_collector_containers["api"]))
}

resource "aws_ecs_task_definition" "worker" {
  family                   = "${var.name}-worker"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.worker_cpu
  memory                   = var.worker_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.worker.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  # Downloads land in WORK_DIR before they are uploaded: room for the largest files times
  # MAX_CONCURRENT_DOWNLOADS, plus the image.
  ephemeral_storage {
    size_in_gib = var.worker_ephemeral_storage_gib
  }

  container_definitions = jsonencode(concat([merge(local.container_base, {
    name             = "worker"
    command          = ["celery", "-A", "app.core.celery_app", "worker", "-Q", "maintenance,downloads.high,downloads,downloads.low"]
    environment      = local.worker_environment
    mountPoints      = local.work_mount
    logConfiguration = local.log_configuration["worker"]
    # Celery's remote control needs broadcast, which SQS does not offer; on SQS a stuck
    # worker is caught by the job leases instead.
    healthCheck = var.use_sqs_broker ? null : {
      command     = ["CMD-SHELL", "celery -A app.core.celery_app inspect ping --destination \"celery@$(hostname)\" --timeout 10 > /dev/null"]
      interval    = 60
      timeout     = 30
      retries     = 3
      startPeriod = 120
    }
  })], local.pot_provider_containers, local.transcription_containers, local.xray_collector_containers["worker"]))

  dynamic "volume" {
    for_each = var.asr_enabled ? [1] : []
    content {
      name = "work"
    }
  }
}

# Beat only sends two periodic messages; if it dies, ECS starts another (there is no
# meaningful in-container check).
resource "aws_ecs_task_definition" "beat" {
  family                   = "${var.name}-beat"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.beat_cpu
  memory                   = var.beat_memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.beat.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([merge(local.container_base, {
    name             = "beat"
    command          = ["celery", "-A", "app.core.celery_app", "beat", "--schedule", "/tmp/celerybeat-schedule"]
    logConfiguration = local.log_configuration["beat"]
  })])
}

# Run once per release before the services roll (see the run_migration_command output).
# It needs only the database, so it runs without a task role.
resource "aws_ecs_task_definition" "migrate" {
  family                   = "${var.name}-migrate"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = 256
  memory                   = 512
  execution_role_arn       = aws_iam_role.execution.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([merge(local.container_base, {
    name             = "migrate"
    command          = ["alembic", "upgrade", "head"]
    logConfiguration = local.log_configuration["migrate"]
  })])
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = merge(
      {
        Project     = "youtube-download-service"
        Environment = var.environment
        ManagedBy   = "terraform"
      },
      var.tags,
    )
  }
}

data "aws_caller_identity" "current" {}

locals {
  name        = "${var.name}-${var.environment}"
  bucket_name = coalesce(var.s3_bucket_name, "${local.name}-files-${data.aws_caller_identity.current.account_id}")
  # S3 expires whole days; rounding up never removes a file before the app would.
  expiration_days = var.file_retention_hours == 0 ? 0 : ceil(var.file_retention_hours / 24)
  # The app sets the broker's visibility timeout to the longest task (DOWNLOAD_TIMEOUT or
  # ASR_TIMEOUT) + 120 (Celery's hard limit) + 600, capped at SQS's 12 hours; the queues are
  # created with the same value.
  sqs_visibility_timeout = min(max(var.download_timeout, var.asr_timeout) + 720, 43200)

  # What the workers scale on and the queue alarm watches, summed: SQS's count of waiting
  # messages in each download queue (high, normal and low priority), or (Redis broker) the
  # operator-published yds_queue_depth, or nothing (CPU scaling, no queue alarm).
  queue_depth_metrics = var.use_sqs_broker ? [
    for queue in module.sqs[0].download_queue_names : {
      namespace  = "AWS/SQS"
      name       = "ApproximateNumberOfMessagesVisible"
      dimensions = { QueueName = queue }
    }
  ] : var.queue_depth_metric == null ? [] : [var.queue_depth_metric]
}

module "kms" {
  source = "./modules/kms"

  name             = local.name
  allow_cloudfront = var.enable_cloudfront && var.s3_kms_encryption
}

module "vpc" {
  source = "./modules/vpc"

  name                     = local.name
  cidr_block               = var.vpc_cidr
  availability_zones       = var.availability_zones
  single_nat_gateway       = var.single_nat_gateway
  flow_logs_enabled        = var.flow_logs_enabled
  flow_logs_retention_days = var.log_retention_days
  kms_key_arn              = module.kms.key_arn
}

module "ecr" {
  source = "./modules/ecr"

  name        = local.name
  keep_images = var.ecr_keep_images
  kms_key_arn = module.kms.key_arn
}

module "s3" {
  source = "./modules/s3"

  bucket_name                 = local.bucket_name
  prefix                      = var.s3_prefix
  kms_key_arn                 = var.s3_kms_encryption ? module.kms.key_arn : null
  versioning_enabled          = var.s3_versioning
  expiration_days             = local.expiration_days
  cloudfront_distribution_arn = var.enable_cloudfront ? module.cloudfront[0].distribution_arn : null
  force_destroy               = var.s3_force_destroy
}

module "cloudfront" {
  source = "./modules/cloudfront"
  count  = var.enable_cloudfront ? 1 : 0

  name                        = local.name
  bucket_regional_domain_name = module.s3.bucket_regional_domain_name
  price_class                 = var.cloudfront_price_class
  aliases                     = var.cloudfront_aliases
  certificate_arn             = var.cloudfront_certificate_arn
}

module "sqs" {
  source = "./modules/sqs"
  count  = var.use_sqs_broker ? 1 : 0

  visibility_timeout_seconds = local.sqs_visibility_timeout
  dead_letter_queue_enabled  = var.sqs_dead_letter_queues
  max_receive_count          = var.sqs_max_receive_count
}

# The data stores admit only the tasks' security group, which the ecs module creates; their
# URLs flow back into the tasks through Secrets Manager. Terraform resolves each module
# output on its own, so this is an ordering, not a cycle.
module "rds" {
  source = "./modules/rds"

  name                         = local.name
  vpc_id                       = module.vpc.vpc_id
  subnet_ids                   = module.vpc.private_subnet_ids
  allowed_security_group_ids   = [module.ecs.tasks_security_group_id]
  engine_version               = var.db_engine_version
  instance_class               = var.db_instance_class
  allocated_storage_gb         = var.db_allocated_storage_gb
  max_allocated_storage_gb     = var.db_max_allocated_storage_gb
  multi_az                     = var.db_multi_az
  backup_retention_days        = var.db_backup_retention_days
  deletion_protection          = var.db_deletion_protection
  performance_insights_enabled = var.db_performance_insights
  monitoring_interval          = var.db_monitoring_interval
  log_retention_days           = var.log_retention_days
  kms_key_arn                  = module.kms.key_arn
}

module "elasticache" {
  source = "./modules/elasticache"

  name                       = local.name
  log_group_prefix           = local.name
  vpc_id                     = module.vpc.vpc_id
  subnet_ids                 = module.vpc.private_subnet_ids
  allowed_security_group_ids = [module.ecs.tasks_security_group_id]
  engine_version             = var.redis_engine_version
  node_type                  = var.redis_node_type
  num_cache_clusters         = var.redis_num_cache_clusters
  snapshot_retention_days    = var.redis_snapshot_retention_days
  log_retention_days         = var.log_retention_days
  kms_key_arn                = module.kms.key_arn
}

module "secrets" {
  source = "./modules/secrets"

  name                    = local.name
  database_url            = module.rds.database_url
  redis_url               = module.elasticache.redis_url
  bootstrap_admin_api_key = var.bootstrap_admin_api_key
  ytdlp_proxy             = var.ytdlp_proxy
  kms_key_arn             = module.kms.key_arn
  recovery_window_days    = var.secrets_recovery_window_days
}

module "ecs" {
  source = "./modules/ecs"

  name               = local.name
  aws_region         = var.aws_region
  vpc_id             = module.vpc.vpc_id
  vpc_cidr           = module.vpc.cidr_block
  public_subnet_ids  = module.vpc.public_subnet_ids
  private_subnet_ids = module.vpc.private_subnet_ids
  task_egress_ports  = var.task_egress_ports

  certificate_arn         = var.acm_certificate_arn
  alb_ingress_cidrs       = var.alb_ingress_cidrs
  alb_deletion_protection = var.alb_deletion_protection
  alb_access_logs_bucket  = var.alb_access_logs_bucket

  image              = "${module.ecr.repository_url}:${var.image_tag}"
  cpu_architecture   = var.cpu_architecture
  ecr_repository_arn = module.ecr.repository_arn
  kms_key_arn        = module.kms.key_arn
  log_retention_days = var.log_retention_days

  bucket_name         = module.s3.bucket_name
  bucket_arn          = module.s3.bucket_arn
  s3_prefix           = var.s3_prefix
  s3_kms_encrypted    = var.s3_kms_encryption
  cloudfront_domain   = var.enable_cloudfront ? module.cloudfront[0].domain_name : ""
  use_sqs_broker      = var.use_sqs_broker
  sqs_queue_arns      = var.use_sqs_broker ? module.sqs[0].queue_arns : []
  queue_depth_metrics = local.queue_depth_metrics

  presigned_url_ttl             = var.presigned_url_ttl
  file_retention_hours          = var.file_retention_hours
  max_concurrent_downloads      = var.max_concurrent_downloads
  download_timeout              = var.download_timeout
  worker_shutdown_grace_seconds = var.worker_shutdown_grace_seconds
  log_level                     = var.log_level
  cors_origins                  = var.cors_origins
  ytdlp_update                  = var.ytdlp_update

  database_url_secret_arn            = module.secrets.database_url_arn
  redis_url_secret_arn               = module.secrets.redis_url_arn
  api_key_secret_arn                 = module.secrets.api_key_secret_arn
  bootstrap_admin_api_key_secret_arn = module.secrets.bootstrap_admin_api_key_arn
  ytdlp_proxy_secret_arn             = module.secrets.ytdlp_proxy_arn

  api_cpu                      = var.api_cpu
  api_memory                   = var.api_memory
  api_min_count                = var.api_min_count
  api_max_count                = var.api_max_count
  api_requests_per_target      = var.api_requests_per_target
  worker_cpu                   = var.worker_cpu
  worker_memory                = var.worker_memory
  worker_min_count             = var.worker_min_count
  worker_max_count             = var.worker_max_count
  worker_ephemeral_storage_gib = var.worker_ephemeral_storage_gib
  worker_backlog_per_task      = var.worker_backlog_per_task
  worker_use_fargate_spot      = var.worker_use_fargate_spot
  pot_provider_enabled         = var.pot_provider_enabled
  pot_provider_image           = var.pot_provider_image
  enable_xray_tracing          = var.enable_xray_tracing
  xray_collector_image         = var.xray_collector_image
  asr_enabled                  = var.asr_enabled
  asr_model                    = var.asr_model
  asr_concurrency              = var.asr_concurrency
  asr_compute_type             = var.asr_compute_type
  asr_timeout                  = var.asr_timeout
}

module "monitoring" {
  source = "./modules/monitoring"

  name                    = local.name
  alarm_sns_topic_arn     = var.alarm_sns_topic_arn
  alb_arn_suffix          = module.ecs.alb_arn_suffix
  target_group_arn_suffix = module.ecs.target_group_arn_suffix
  cluster_name            = module.ecs.cluster_name
  worker_service_name     = module.ecs.service_names["worker"]
  queue_depth_metrics     = local.queue_depth_metrics
  queue_depth_threshold   = var.queue_depth_alarm_threshold
  dead_letter_queue_names = var.use_sqs_broker ? module.sqs[0].dead_letter_queue_names : []
}

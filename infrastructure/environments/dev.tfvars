# terraform plan -var-file=environments/dev.tfvars -var image_tag=$(git rev-parse --short HEAD)
# Small and cheap: one NAT gateway, single-AZ database and Redis, no deletion protection.

aws_region          = "eu-west-1"
environment         = "dev"
availability_zones  = ["eu-west-1a", "eu-west-1b"]
acm_certificate_arn = "arn:aws:acm:eu-west-1:<account-id>:certificate/<certificate-id>" # yours: fails validation until replaced

single_nat_gateway      = true
alb_deletion_protection = false

db_instance_class            = "db.t4g.micro"
db_multi_az                  = false
db_backup_retention_days     = 1
db_deletion_protection       = false
db_performance_insights      = false
db_monitoring_interval       = 0
redis_node_type              = "cache.t4g.micro"
redis_num_cache_clusters     = 1
secrets_recovery_window_days = 0
s3_force_destroy             = true

api_cpu                      = 256
api_memory                   = 512
api_min_count                = 1
api_max_count                = 2
worker_cpu                   = 1024
worker_memory                = 2048
worker_min_count             = 1
worker_max_count             = 2
worker_ephemeral_storage_gib = 30
worker_use_fargate_spot      = true

file_retention_hours = 24
log_retention_days   = 14
log_level            = "DEBUG"

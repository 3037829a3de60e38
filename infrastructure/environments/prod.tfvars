# terraform plan -var-file=environments/prod.tfvars -var image_tag=$(git rev-parse --short HEAD)
# Survives the loss of a zone: a NAT gateway per zone, Multi-AZ database, a Redis replica.

aws_region          = "eu-west-1"
environment         = "prod"
availability_zones  = ["eu-west-1a", "eu-west-1b"]
acm_certificate_arn = "arn:aws:acm:eu-west-1:<account-id>:certificate/<certificate-id>" # yours: fails validation until replaced
alarm_sns_topic_arn = "arn:aws:sns:eu-west-1:<account-id>:yds-alarms"                   # yours: fails validation until replaced

single_nat_gateway      = false
alb_deletion_protection = true

db_instance_class             = "db.m7g.large"
db_multi_az                   = true
db_allocated_storage_gb       = 50
db_max_allocated_storage_gb   = 500
db_backup_retention_days      = 14
db_deletion_protection        = true
redis_node_type               = "cache.m7g.large"
redis_num_cache_clusters      = 2
redis_snapshot_retention_days = 7

api_cpu                      = 1024
api_memory                   = 2048
api_min_count                = 2
api_max_count                = 10
worker_cpu                   = 2048
worker_memory                = 4096
worker_min_count             = 2
worker_max_count             = 30
worker_ephemeral_storage_gib = 100
max_concurrent_downloads     = 3

file_retention_hours = 72
log_retention_days   = 90

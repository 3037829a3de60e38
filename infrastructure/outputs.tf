output "api_url" {
  description = "Base URL of the API through the load balancer (use your own domain's CNAME in production, matching the certificate)."
  value       = "https://${module.ecs.alb_dns_name}"
}

output "alb_dns_name" {
  description = "DNS name of the load balancer."
  value       = module.ecs.alb_dns_name
}

output "alb_zone_id" {
  description = "Route 53 hosted zone of the load balancer, for an alias record."
  value       = module.ecs.alb_zone_id
}

output "bucket_name" {
  description = "Bucket the files are stored in (S3_BUCKET_NAME)."
  value       = module.s3.bucket_name
}

output "ecr_repository_url" {
  description = "Repository to push the image to: docker push <url>:<image_tag>."
  value       = module.ecr.repository_url
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = module.ecs.cluster_name
}

output "service_names" {
  description = "ECS services by role (api, worker, beat)."
  value       = module.ecs.service_names
}

output "migration_task_definition_arn" {
  description = "Task definition that runs `alembic upgrade head`."
  value       = module.ecs.migration_task_definition_arn
}

output "private_subnet_ids" {
  description = "Subnets to run one-off tasks (the migration) in."
  value       = module.vpc.private_subnet_ids
}

output "tasks_security_group_id" {
  description = "Security group to run one-off tasks with (it reaches the database and Redis)."
  value       = module.ecs.tasks_security_group_id
}

output "run_migration_command" {
  description = "AWS CLI command that runs the newest migration task definition as a one-off task and waits for it to stop."
  value = join(" ", [
    "aws ecs wait tasks-stopped --region ${var.aws_region} --cluster ${module.ecs.cluster_name} --tasks",
    "$(aws ecs run-task --region ${var.aws_region} --cluster ${module.ecs.cluster_name}",
    "--task-definition ${module.ecs.migration_task_family} --launch-type FARGATE",
    "--network-configuration 'awsvpcConfiguration={subnets=[${join(",", module.vpc.private_subnet_ids)}],securityGroups=[${module.ecs.tasks_security_group_id}],assignPublicIp=DISABLED}'",
    "--query 'tasks[0].taskArn' --output text)",
  ])
}

output "log_group_names" {
  description = "CloudWatch log groups of the tasks, by role."
  value       = module.ecs.log_group_names
}

output "nat_public_ips" {
  description = "Public addresses the workers reach YouTube from (for allow-lists and proxies)."
  value       = module.vpc.nat_public_ips
}

output "cloudfront_domain_name" {
  description = "Domain files are served from when CloudFront is enabled (S3_CLOUDFRONT_DOMAIN), else null."
  value       = var.enable_cloudfront ? module.cloudfront[0].domain_name : null
}

output "sqs_queue_urls" {
  description = "URLs of the broker queues when SQS is the broker, else an empty map."
  value       = var.use_sqs_broker ? module.sqs[0].queue_urls : {}
}

output "alarm_names" {
  description = "CloudWatch alarms created."
  value       = module.monitoring.alarm_names
}

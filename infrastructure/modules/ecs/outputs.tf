output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "alb_dns_name" {
  description = "DNS name of the load balancer (point your domain's CNAME or alias here)."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone of the load balancer, for a Route 53 alias record."
  value       = aws_lb.this.zone_id
}

output "alb_arn_suffix" {
  description = "ARN suffix of the load balancer (CloudWatch dimension LoadBalancer)."
  value       = aws_lb.this.arn_suffix
}

output "target_group_arn_suffix" {
  description = "ARN suffix of the API's target group (CloudWatch dimension TargetGroup)."
  value       = aws_lb_target_group.api.arn_suffix
}

output "tasks_security_group_id" {
  description = "Security group of every task; the database and Redis admit only it."
  value       = aws_security_group.tasks.id
}

output "service_names" {
  description = "Names of the ECS services, by role."
  value = {
    api    = aws_ecs_service.api.name
    worker = aws_ecs_service.worker.name
    beat   = aws_ecs_service.beat.name
  }
}

output "migration_task_definition_arn" {
  description = "Task definition running `alembic upgrade head`."
  value       = aws_ecs_task_definition.migrate.arn
}

output "migration_task_family" {
  description = "Family of the migration task definition; run-task with it picks the newest revision."
  value       = aws_ecs_task_definition.migrate.family
}

output "log_group_names" {
  description = "CloudWatch log groups, by role."
  value       = { for role, group in aws_cloudwatch_log_group.this : role => group.name }
}

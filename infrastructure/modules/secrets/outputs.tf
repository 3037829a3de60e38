output "database_url_arn" {
  description = "ARN of the DATABASE_URL secret."
  value       = aws_secretsmanager_secret.this["database-url"].arn
}

output "redis_url_arn" {
  description = "ARN of the REDIS_URL secret."
  value       = aws_secretsmanager_secret.this["redis-url"].arn
}

output "api_key_secret_arn" {
  description = "ARN of the API_KEY_SECRET secret."
  value       = aws_secretsmanager_secret.this["api-key-secret"].arn
}

output "ytdlp_proxy_arn" {
  description = "ARN of the YTDLP_PROXY secret, or null when none was given."
  value       = try(aws_secretsmanager_secret.this["ytdlp-proxy"].arn, null)
}

output "bootstrap_admin_api_key_arn" {
  description = "ARN of the BOOTSTRAP_ADMIN_API_KEY secret, or null when none was given."
  value       = try(aws_secretsmanager_secret.this["bootstrap-admin-api-key"].arn, null)
}

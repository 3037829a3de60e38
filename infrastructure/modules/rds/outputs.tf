output "address" {
  description = "Host name of the instance."
  value       = aws_db_instance.this.address
}

output "database_url" {
  description = "DATABASE_URL for the app (postgresql+asyncpg://user:password@host:5432/db)."
  value       = "postgresql+asyncpg://${var.username}:${random_password.master.result}@${aws_db_instance.this.address}:${aws_db_instance.this.port}/${var.database_name}"
  sensitive   = true
}

output "instance_identifier" {
  description = "Identifier of the instance (CloudWatch dimension DBInstanceIdentifier)."
  value       = aws_db_instance.this.identifier
}

output "repository_url" {
  description = "URL to push the image to (docker push <url>:<tag>)."
  value       = aws_ecr_repository.this.repository_url
}

output "repository_arn" {
  description = "ARN of the repository (the task execution role may pull from it)."
  value       = aws_ecr_repository.this.arn
}

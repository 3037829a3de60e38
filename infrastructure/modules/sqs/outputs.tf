output "queue_arns" {
  description = "ARNs of the broker queues (SQS itself moves messages to the dead-letter queues)."
  value       = values(aws_sqs_queue.this)[*].arn
}

output "queue_urls" {
  description = "URLs of the broker queues, by name."
  value       = { for name, queue in aws_sqs_queue.this : name => queue.url }
}

output "downloads_queue_name" {
  description = "Name of the queue download jobs wait in (the autoscaling and alarm metric)."
  value       = aws_sqs_queue.this["downloads"].name
}

output "dead_letter_queue_names" {
  description = "Names of the dead-letter queues (empty when disabled)."
  value       = values(aws_sqs_queue.dead_letter)[*].name
}

output "queue_arns" {
  description = "ARNs of the broker queues (SQS itself moves messages to the dead-letter queues)."
  value       = values(aws_sqs_queue.this)[*].arn
}

output "queue_urls" {
  description = "URLs of the broker queues, by name."
  value       = { for name, queue in aws_sqs_queue.this : name => queue.url }
}

output "download_queue_names" {
  description = "Names of the queues download jobs wait in, high, normal and low priority (the autoscaling and alarm metric sums them)."
  value       = [for name in local.download_queue_names : aws_sqs_queue.this[name].name]
}

output "dead_letter_queue_names" {
  description = "Names of the dead-letter queues (empty when disabled)."
  value       = values(aws_sqs_queue.dead_letter)[*].name
}

variable "visibility_timeout_seconds" {
  description = "Seconds a received message stays hidden; must exceed DOWNLOAD_TIMEOUT + 120 (SQS allows at most 43200)."
  type        = number

  validation {
    condition     = var.visibility_timeout_seconds >= 150 && var.visibility_timeout_seconds <= 43200
    error_message = "visibility_timeout_seconds must be between 150 and 43200."
  }
}

variable "message_retention_seconds" {
  description = "Seconds an unreceived message is kept. The reconciler re-enqueues lost jobs, so this only bounds a long outage."
  type        = number
  default     = 345600
}

variable "dead_letter_queue_enabled" {
  description = "Move messages received max_receive_count times to a <queue>-dlq queue."
  type        = bool
  default     = true
}

variable "max_receive_count" {
  description = "Receives before a message goes to the dead-letter queue (each worker crash or hand-back counts one)."
  type        = number
  default     = 5

  validation {
    condition     = var.max_receive_count >= 2 && var.max_receive_count <= 1000
    error_message = "max_receive_count must be between 2 and 1000."
  }
}

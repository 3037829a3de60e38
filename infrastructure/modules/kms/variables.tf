variable "name" {
  description = "Name of the stack: the alias is alias/<name>; only log groups /<name>/... and /aws/rds/instance/<name>/... may use the key."
  type        = string
}

variable "deletion_window_days" {
  description = "Days a scheduled key deletion can still be cancelled."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_days >= 7 && var.deletion_window_days <= 30
    error_message = "deletion_window_days must be between 7 and 30."
  }
}

variable "allow_cloudfront" {
  description = "Let CloudFront distributions of this account decrypt objects (needed when CloudFront serves an SSE-KMS bucket)."
  type        = bool
  default     = false
}

variable "bucket_name" {
  description = "Globally unique bucket name."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be 3-63 lowercase letters, digits, dots or hyphens."
  }
}

variable "prefix" {
  description = "Key prefix the app writes under (S3_PREFIX); expiry and CloudFront access are limited to it."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$", var.prefix))
    error_message = "prefix must be a non-empty path such as \"downloads\" or \"yds/prod\", without leading or trailing slashes."
  }
}

variable "kms_key_arn" {
  description = "KMS key for default encryption (SSE-KMS); null uses SSE-S3 (AES256)."
  type        = string
  default     = null
}

variable "versioning_enabled" {
  description = "Keep overwritten and deleted objects as noncurrent versions."
  type        = bool
  default     = false
}

variable "noncurrent_version_days" {
  description = "Days noncurrent versions are kept when versioning is on."
  type        = number
  default     = 7
}

variable "expiration_days" {
  description = "Days after which objects under the prefix expire; 0 keeps them."
  type        = number
  default     = 0

  validation {
    condition     = var.expiration_days >= 0 && floor(var.expiration_days) == var.expiration_days
    error_message = "expiration_days must be a whole number of days, 0 or more."
  }
}

variable "cloudfront_distribution_arn" {
  description = "Distribution allowed to read objects under the prefix through origin access control; null for none."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Let `terraform destroy` delete the bucket with its objects."
  type        = bool
  default     = false
}

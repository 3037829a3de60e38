variable "name" {
  description = "Prefix of the secret names (<name>/database-url, ...)."
  type        = string
}

variable "database_url" {
  description = "DATABASE_URL, with the password."
  type        = string
  sensitive   = true
}

variable "redis_url" {
  description = "REDIS_URL, with the AUTH token."
  type        = string
  sensitive   = true
}

variable "bootstrap_admin_api_key" {
  description = "BOOTSTRAP_ADMIN_API_KEY (at least 24 characters), or null for none."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.bootstrap_admin_api_key == null || length(coalesce(var.bootstrap_admin_api_key, "-")) >= 24
    error_message = "bootstrap_admin_api_key must be at least 24 characters (generate one with `python -m app.cli api-keys generate`)."
  }
}

variable "ytdlp_proxy" {
  description = "YTDLP_PROXY (http://[user:password@]host:port), or null for none."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.ytdlp_proxy == null || can(regex("^http://[^/]+:[0-9]+/?$", coalesce(var.ytdlp_proxy, "-")))
    error_message = "ytdlp_proxy must be an http://[user:password@]host:port URL."
  }
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the secrets."
  type        = string
}

variable "recovery_window_days" {
  description = "Days a deleted secret can be restored (0 deletes at once, so the name can be reused)."
  type        = number
  default     = 7

  validation {
    condition     = var.recovery_window_days == 0 || (var.recovery_window_days >= 7 && var.recovery_window_days <= 30)
    error_message = "recovery_window_days must be 0 or between 7 and 30."
  }
}

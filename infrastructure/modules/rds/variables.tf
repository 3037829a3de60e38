variable "name" {
  description = "Identifier of the instance and prefix of its resources."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the instance."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets (two zones at least) of the subnet group."
  type        = list(string)

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "RDS needs subnets in at least two availability zones."
  }
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to connect on 5432 (the app's tasks)."
  type        = list(string)
}

variable "engine_version" {
  description = "PostgreSQL version: a major (\"16\") lets RDS pick and upgrade the minor."
  type        = string
  default     = "16"

  validation {
    condition     = can(regex("^1[3-7](\\.[0-9]+)?$", var.engine_version))
    error_message = "engine_version must be PostgreSQL 13 to 17, e.g. \"16\" or \"16.6\"."
  }
}

variable "instance_class" {
  description = "Instance class, e.g. db.t4g.micro (dev) or db.m7g.large (prod)."
  type        = string
  default     = "db.t4g.medium"
}

variable "allocated_storage_gb" {
  description = "Initial storage in GB."
  type        = number
  default     = 20
}

variable "max_allocated_storage_gb" {
  description = "Storage autoscaling ceiling in GB."
  type        = number
  default     = 100
}

variable "database_name" {
  description = "Name of the app's database."
  type        = string
  default     = "yds"
}

variable "username" {
  description = "Master user name (the app connects as it)."
  type        = string
  default     = "yds"
}

variable "multi_az" {
  description = "Keep a synchronous standby in another zone."
  type        = bool
  default     = true
}

variable "backup_retention_days" {
  description = "Days automated backups are kept (1-35)."
  type        = number
  default     = 7

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "backup_retention_days must be between 1 and 35."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the instance until this is turned off."
  type        = bool
  default     = true
}

variable "performance_insights_enabled" {
  description = "Turn on Performance Insights (7 days, free tier)."
  type        = bool
  default     = true
}

variable "monitoring_interval" {
  description = "Seconds between Enhanced Monitoring samples: 0 (off), 1, 5, 10, 15, 30 or 60."
  type        = number
  default     = 60

  validation {
    condition     = contains([0, 1, 5, 10, 15, 30, 60], var.monitoring_interval)
    error_message = "monitoring_interval must be one of 0, 1, 5, 10, 15, 30, 60."
  }
}

variable "log_min_duration_ms" {
  description = "Statements slower than this many milliseconds are logged."
  type        = number
  default     = 1000
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the exported PostgreSQL logs."
  type        = number
  default     = 30
}

variable "kms_key_arn" {
  description = "KMS key for storage and Performance Insights."
  type        = string
}

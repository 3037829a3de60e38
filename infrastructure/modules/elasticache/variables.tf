variable "name" {
  description = "Replication group id and prefix of its resources (at most 40 characters)."
  type        = string

  validation {
    condition     = length(var.name) <= 40
    error_message = "ElastiCache replication group ids are at most 40 characters."
  }
}

variable "log_group_prefix" {
  description = "Stack name the slow-log group is created under (/<prefix>/redis/slow-log)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the replication group."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of the subnet group."
  type        = list(string)
}

variable "allowed_security_group_ids" {
  description = "Security groups allowed to connect on 6379 (the app's tasks)."
  type        = list(string)
}

variable "engine_version" {
  description = "Redis engine version, e.g. \"7.1\"."
  type        = string
  default     = "7.1"

  validation {
    condition     = can(regex("^[67]\\.[0-9x]+$", var.engine_version))
    error_message = "engine_version must be a Redis 6.x or 7.x version such as \"7.1\"."
  }
}

variable "node_type" {
  description = "Node type, e.g. cache.t4g.micro (dev) or cache.m7g.large (prod)."
  type        = string
  default     = "cache.t4g.small"
}

variable "num_cache_clusters" {
  description = "Nodes: 1 (no failover) or more (a replica in another zone, automatic failover)."
  type        = number
  default     = 2

  validation {
    condition     = var.num_cache_clusters >= 1 && var.num_cache_clusters <= 6
    error_message = "num_cache_clusters must be between 1 and 6."
  }
}

variable "snapshot_retention_days" {
  description = "Days daily snapshots are kept; 0 disables them."
  type        = number
  default     = 1
}

variable "auth_token" {
  description = "AUTH token (16-128 letters and digits); null generates one."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.auth_token == null || can(regex("^[A-Za-z0-9]{16,128}$", var.auth_token))
    error_message = "auth_token must be 16 to 128 letters and digits (it is embedded in REDIS_URL)."
  }
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the slow log."
  type        = number
  default     = 30
}

variable "kms_key_arn" {
  description = "KMS key for data at rest and the slow-log group."
  type        = string
}

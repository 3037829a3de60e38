variable "name" {
  description = "Name prefix for every resource."
  type        = string
}

variable "cidr_block" {
  description = "CIDR block of the VPC (a /16 to /20)."
  type        = string

  validation {
    condition     = can(cidrhost(var.cidr_block, 0)) && tonumber(split("/", var.cidr_block)[1]) >= 16 && tonumber(split("/", var.cidr_block)[1]) <= 20
    error_message = "cidr_block must be an IPv4 CIDR between /16 and /20."
  }
}

variable "availability_zones" {
  description = "Availability zones of the subnets, e.g. [\"eu-west-1a\", \"eu-west-1b\"]. Named explicitly: a zone list that shifted would replace every subnet."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) >= 2 && length(var.availability_zones) <= 3 && length(distinct(var.availability_zones)) == length(var.availability_zones)
    error_message = "availability_zones must name 2 or 3 distinct zones (the load balancer and the RDS subnet group need two)."
  }
}

variable "single_nat_gateway" {
  description = "One NAT gateway for all zones (cheaper, for dev) instead of one per zone (survives a zone outage)."
  type        = bool
  default     = false
}

variable "flow_logs_enabled" {
  description = "Send VPC flow logs to CloudWatch Logs."
  type        = bool
  default     = true
}

variable "flow_logs_retention_days" {
  description = "Days CloudWatch keeps the flow logs."
  type        = number
  default     = 30
}

variable "kms_key_arn" {
  description = "KMS key that encrypts the flow log group."
  type        = string
}

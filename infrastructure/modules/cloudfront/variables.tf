variable "name" {
  description = "Name prefix of the distribution's resources."
  type        = string
}

variable "bucket_regional_domain_name" {
  description = "Regional domain name of the downloads bucket (the origin)."
  type        = string
}

variable "price_class" {
  description = "Edge locations to serve from: PriceClass_100, PriceClass_200 or PriceClass_All."
  type        = string
  default     = "PriceClass_100"

  validation {
    condition     = contains(["PriceClass_100", "PriceClass_200", "PriceClass_All"], var.price_class)
    error_message = "price_class must be PriceClass_100, PriceClass_200 or PriceClass_All."
  }
}

variable "aliases" {
  description = "Custom domain names of the distribution; they need certificate_arn."
  type        = list(string)
  default     = []
}

variable "certificate_arn" {
  description = "ACM certificate in us-east-1 covering the aliases; null serves *.cloudfront.net."
  type        = string
  default     = null

  validation {
    condition     = var.certificate_arn == null || can(regex("^arn:[^:]+:acm:us-east-1:", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN in us-east-1 (CloudFront only reads certificates there)."
  }
}

variable "access_logs_bucket_domain_name" {
  description = "Domain name of a bucket (with ACLs enabled) for standard access logs; null disables them."
  type        = string
  default     = null
}

variable "name" {
  description = "Repository name."
  type        = string
}

variable "keep_images" {
  description = "Images to keep; older ones are expired."
  type        = number
  default     = 30

  validation {
    condition     = var.keep_images >= 3 && var.keep_images <= 1000
    error_message = "keep_images must be between 3 and 1000."
  }
}

variable "kms_key_arn" {
  description = "KMS key for the images; null uses AES256."
  type        = string
  default     = null
}

variable "force_delete" {
  description = "Let `terraform destroy` delete the repository while it still holds images."
  type        = bool
  default     = false
}

variable "name" {
  description = "Prefix of the alarm names."
  type        = string
}

variable "alarm_sns_topic_arn" {
  description = "SNS topic notified when an alarm fires and clears; null only records the state."
  type        = string
  default     = null
}

variable "alb_arn_suffix" {
  description = "ARN suffix of the load balancer."
  type        = string
}

variable "target_group_arn_suffix" {
  description = "ARN suffix of the API's target group."
  type        = string
}

variable "cluster_name" {
  description = "Name of the ECS cluster."
  type        = string
}

variable "worker_service_name" {
  description = "Name of the worker service."
  type        = string
}

variable "http_5xx_threshold" {
  description = "5xx responses in 5 minutes that raise an alarm."
  type        = number
  default     = 10
}

variable "queue_depth_metrics" {
  description = "Metrics of jobs waiting for a worker, summed (the three SQS download queues, or the app's yds_queue_depth); empty for no queue alarm."
  type = list(object({
    namespace  = string
    name       = string
    dimensions = map(string)
  }))
  default = []
}

variable "queue_depth_threshold" {
  description = "Waiting jobs that, held for 15 minutes, raise an alarm."
  type        = number
  default     = 100
}

variable "dead_letter_queue_names" {
  description = "SQS dead-letter queues that must stay empty."
  type        = list(string)
  default     = []
}

locals {
  actions = var.alarm_sns_topic_arn == null ? [] : [var.alarm_sns_topic_arn]
  # Metric math ids of the queue metrics and the expression that adds them up.
  queued_ids = [for index, _ in var.queue_depth_metrics : "queued_${index}"]
  queued_sum = join(" + ", local.queued_ids)
  alb_dimensions = {
    LoadBalancer = var.alb_arn_suffix
    TargetGroup  = var.target_group_arn_suffix
  }
}

resource "aws_cloudwatch_metric_alarm" "alb_5xx" {
  alarm_name          = "${var.name}-alb-5xx"
  alarm_description   = "The load balancer answered 5xx itself (no healthy API task, or a timeout)."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_ELB_5XX_Count"
  dimensions          = { LoadBalancer = var.alb_arn_suffix }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.http_5xx_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# Expected failures are never 500s in this app, so any 5xx from the API is a bug or a
# dependency outage.
resource "aws_cloudwatch_metric_alarm" "target_5xx" {
  alarm_name          = "${var.name}-api-5xx"
  alarm_description   = "The API answered 5xx (a bug, or the database or Redis is down)."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "HTTPCode_Target_5XX_Count"
  dimensions          = local.alb_dimensions
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.http_5xx_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

resource "aws_cloudwatch_metric_alarm" "unhealthy_api" {
  alarm_name          = "${var.name}-api-unhealthy"
  alarm_description   = "API tasks fail the load balancer's /health check."
  namespace           = "AWS/ApplicationELB"
  metric_name         = "UnHealthyHostCount"
  dimensions          = local.alb_dimensions
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = 5
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# The sum of the queue metrics (with SQS, the high, normal and low priority download queues),
# each its maximum over 5 minutes.
resource "aws_cloudwatch_metric_alarm" "queue_depth" {
  count = length(var.queue_depth_metrics) > 0 ? 1 : 0

  alarm_name          = "${var.name}-queue-depth"
  alarm_description   = "Jobs have been piling up for 15 minutes: workers at their maximum, or not consuming."
  evaluation_periods  = 3
  threshold           = var.queue_depth_threshold
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions

  dynamic "metric_query" {
    for_each = var.queue_depth_metrics

    content {
      id          = local.queued_ids[metric_query.key]
      return_data = false

      metric {
        namespace   = metric_query.value.namespace
        metric_name = metric_query.value.name
        dimensions  = metric_query.value.dimensions
        stat        = "Maximum"
        period      = 300
      }
    }
  }

  metric_query {
    id          = "queued"
    label       = "Jobs waiting for a worker"
    expression  = local.queued_sum
    return_data = true
  }
}

resource "aws_cloudwatch_metric_alarm" "dead_letters" {
  for_each = toset(var.dead_letter_queue_names)

  alarm_name          = "${var.name}-${each.key}-not-empty"
  alarm_description   = "Messages reached ${each.key}: a task kept failing or killing its worker."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.key }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

# Without a queue metric (Redis broker, nothing publishing yds_queue_depth) sustained full
# CPU is the best available sign that workers cannot keep up.
resource "aws_cloudwatch_metric_alarm" "worker_cpu" {
  alarm_name          = "${var.name}-worker-cpu"
  alarm_description   = "Workers have been near full CPU for 15 minutes."
  namespace           = "AWS/ECS"
  metric_name         = "CPUUtilization"
  dimensions          = { ClusterName = var.cluster_name, ServiceName = var.worker_service_name }
  statistic           = "Average"
  period              = 300
  evaluation_periods  = 3
  threshold           = 90
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.actions
  ok_actions          = local.actions
}

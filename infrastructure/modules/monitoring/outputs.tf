output "alarm_names" {
  description = "Names of every alarm created."
  value = concat(
    [
      aws_cloudwatch_metric_alarm.alb_5xx.alarm_name,
      aws_cloudwatch_metric_alarm.target_5xx.alarm_name,
      aws_cloudwatch_metric_alarm.unhealthy_api.alarm_name,
      aws_cloudwatch_metric_alarm.worker_cpu.alarm_name,
    ],
    aws_cloudwatch_metric_alarm.queue_depth[*].alarm_name,
    [for alarm in aws_cloudwatch_metric_alarm.dead_letters : alarm.alarm_name],
  )
}

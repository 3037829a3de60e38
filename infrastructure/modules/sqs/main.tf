locals {
  # Celery (kombu's SQS transport, no queue_name_prefix) uses the app's queue names, a dot
  # becoming a dash (downloads.high is downloads-high), so the queues must be called exactly
  # this. The download queues by priority: downloads-high, downloads (normal), downloads-low.
  download_queue_names = ["downloads-high", "downloads", "downloads-low"]
  queue_names          = toset(concat(local.download_queue_names, ["maintenance", "transcription"]))
}

resource "aws_sqs_queue" "dead_letter" {
  for_each = var.dead_letter_queue_enabled ? local.queue_names : toset([])

  name                      = "${each.key}-dlq"
  message_retention_seconds = 1209600 # the maximum, 14 days, to leave time to look
  sqs_managed_sse_enabled   = true
}

resource "aws_sqs_queue" "this" {
  for_each = local.queue_names

  name = each.key
  # Must outlast the longest task (DOWNLOAD_TIMEOUT plus Celery's hard-limit margin) or SQS
  # hands a running download to a second worker.
  visibility_timeout_seconds = var.visibility_timeout_seconds
  message_retention_seconds  = var.message_retention_seconds
  receive_wait_time_seconds  = 10
  sqs_managed_sse_enabled    = true

  redrive_policy = var.dead_letter_queue_enabled ? jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dead_letter[each.key].arn
    maxReceiveCount     = var.max_receive_count
  }) : null
}

resource "aws_sqs_queue_redrive_allow_policy" "dead_letter" {
  for_each = aws_sqs_queue.dead_letter

  queue_url = each.value.id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.this[each.key].arn]
  })
}

locals {
  objects_arn = "${var.bucket_arn}/${var.s3_prefix}/*"
  # The cookies an admin uploads: one object beside the prefix (never served by the CDN,
  # never expired by the lifecycle rule), which the API writes and the workers read.
  cookies_key = "private/${var.s3_prefix}/youtube-cookies.txt"
  cookies_arn = "${var.bucket_arn}/${local.cookies_key}"
}

data "aws_iam_policy_document" "tasks_trust" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

# Used by ECS itself to start the tasks: pull the image, write logs, read the secrets.
resource "aws_iam_role" "execution" {
  name_prefix        = "${var.name}-execution-"
  assume_role_policy = data.aws_iam_policy_document.tasks_trust.json
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid       = "EcrLogin"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"] # the action has no resource-level permissions
  }

  statement {
    sid = "PullImage"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:GetDownloadUrlForLayer",
    ]
    resources = [var.ecr_repository_arn]
  }

  statement {
    sid       = "WriteLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for group in aws_cloudwatch_log_group.this : "${group.arn}:*"]
  }

  statement {
    sid       = "ReadSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = values(local.secrets)
  }

  statement {
    sid       = "DecryptSecrets"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${var.aws_region}.amazonaws.com"]
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "start-tasks"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json
}

# The roles the app's code runs as. Each may touch only objects under S3_PREFIX.
resource "aws_iam_role" "api" {
  name_prefix        = "${var.name}-api-"
  assume_role_policy = data.aws_iam_policy_document.tasks_trust.json
}

resource "aws_iam_role" "worker" {
  name_prefix        = "${var.name}-worker-"
  assume_role_policy = data.aws_iam_policy_document.tasks_trust.json
}

resource "aws_iam_role" "beat" {
  name_prefix        = "${var.name}-beat-"
  assume_role_policy = data.aws_iam_policy_document.tasks_trust.json
}

data "aws_iam_policy_document" "api_task" {
  # Presigned GETs are signed with this role; PUT and DELETE serve /health/detailed's
  # round trip (health/*) and deleting a job's files.
  statement {
    sid       = "Objects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = [local.objects_arn]
  }

  statement {
    sid       = "ListPrefix"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.s3_prefix}/*"]
    }
  }

  statement {
    sid       = "UploadedCookies"
    actions   = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    resources = [local.cookies_arn]
  }

  # Whether cookies were uploaded is a listing of that one key.
  statement {
    sid       = "FindUploadedCookies"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]

    condition {
      test     = "StringEquals"
      variable = "s3:prefix"
      values   = [local.cookies_key]
    }
  }

  dynamic "statement" {
    for_each = var.s3_kms_encrypted ? [1] : []

    content {
      sid       = "ObjectEncryption"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [var.kms_key_arn]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${var.aws_region}.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.use_sqs_broker ? [1] : []

    content {
      sid       = "Enqueue"
      actions   = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"]
      resources = var.sqs_queue_arns
    }
  }

  dynamic "statement" {
    for_each = var.use_sqs_broker ? [1] : []

    # kombu lists the account's queues once to find theirs; ListQueues has no resources.
    content {
      sid       = "FindQueues"
      actions   = ["sqs:ListQueues"]
      resources = ["*"]
    }
  }

  # The X-Ray collector beside the app's containers (enable_xray_tracing) sends its traces
  # and reads the sampling rules as the task role. X-Ray has no resource-level permissions
  # for these actions.
  dynamic "statement" {
    for_each = var.enable_xray_tracing ? [1] : []

    content {
      sid = "XRayTraces"
      actions = [
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
      ]
      resources = ["*"]
    }
  }
}

data "aws_iam_policy_document" "worker_task" {
  # PutObject covers every step of a multipart upload; Abort and ListParts let a failed
  # or abandoned upload be cleaned up.
  statement {
    sid = "Objects"
    actions = [
      "s3:AbortMultipartUpload",
      "s3:DeleteObject",
      "s3:GetObject",
      "s3:ListMultipartUploadParts",
      "s3:PutObject",
    ]
    resources = [local.objects_arn]
  }

  statement {
    sid       = "ListPrefix"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.s3_prefix}/*"]
    }
  }

  statement {
    sid       = "UploadedCookies"
    actions   = ["s3:GetObject"]
    resources = [local.cookies_arn]
  }

  # Whether cookies were uploaded is a listing of that one key.
  statement {
    sid       = "FindUploadedCookies"
    actions   = ["s3:ListBucket"]
    resources = [var.bucket_arn]

    condition {
      test     = "StringEquals"
      variable = "s3:prefix"
      values   = [local.cookies_key]
    }
  }

  # Housekeeping lists stale multipart uploads under the prefix. S3 has no s3:prefix key for
  # this action (a condition on it would never match), so it is granted on the bucket;
  # aborting stays limited to the prefix above.
  statement {
    sid       = "ListUploads"
    actions   = ["s3:ListBucketMultipartUploads"]
    resources = [var.bucket_arn]
  }

  dynamic "statement" {
    for_each = var.s3_kms_encrypted ? [1] : []

    content {
      sid       = "ObjectEncryption"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
      resources = [var.kms_key_arn]

      condition {
        test     = "StringEquals"
        variable = "kms:ViaService"
        values   = ["s3.${var.aws_region}.amazonaws.com"]
      }
    }
  }

  dynamic "statement" {
    for_each = var.use_sqs_broker ? [1] : []

    content {
      sid = "Consume"
      actions = [
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:GetQueueUrl",
        "sqs:ReceiveMessage",
        "sqs:SendMessage",
      ]
      resources = var.sqs_queue_arns
    }
  }

  dynamic "statement" {
    for_each = var.use_sqs_broker ? [1] : []

    content {
      sid       = "FindQueues"
      actions   = ["sqs:ListQueues"]
      resources = ["*"]
    }
  }

  # The X-Ray collector beside the app's containers (enable_xray_tracing) sends its traces
  # and reads the sampling rules as the task role. X-Ray has no resource-level permissions
  # for these actions.
  dynamic "statement" {
    for_each = var.enable_xray_tracing ? [1] : []

    content {
      sid = "XRayTraces"
      actions = [
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
      ]
      resources = ["*"]
    }
  }
}

data "aws_iam_policy_document" "beat_task" {
  count = var.use_sqs_broker ? 1 : 0

  statement {
    sid       = "Enqueue"
    actions   = ["sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:SendMessage"]
    resources = var.sqs_queue_arns
  }

  statement {
    sid       = "FindQueues"
    actions   = ["sqs:ListQueues"]
    resources = ["*"]
  }
}

resource "aws_iam_role_policy" "api" {
  name   = "api"
  role   = aws_iam_role.api.id
  policy = data.aws_iam_policy_document.api_task.json
}

resource "aws_iam_role_policy" "worker" {
  name   = "worker"
  role   = aws_iam_role.worker.id
  policy = data.aws_iam_policy_document.worker_task.json
}

# With Redis as the broker, beat needs no AWS permissions at all.
resource "aws_iam_role_policy" "beat" {
  count = var.use_sqs_broker ? 1 : 0

  name   = "beat"
  role   = aws_iam_role.beat.id
  policy = data.aws_iam_policy_document.beat_task[0].json
}

resource "random_password" "api_key_secret" {
  length  = 64
  special = false
}

locals {
  # Whether a value was given is not secret; for_each refuses sensitive values.
  bootstrap_enabled = nonsensitive(var.bootstrap_admin_api_key != null)
  proxy_enabled     = nonsensitive(var.ytdlp_proxy != null)

  # Changing API_KEY_SECRET invalidates every API key, so it is generated once and kept.
  values = {
    database-url            = var.database_url
    redis-url               = var.redis_url
    api-key-secret          = random_password.api_key_secret.result
    bootstrap-admin-api-key = var.bootstrap_admin_api_key
    ytdlp-proxy             = var.ytdlp_proxy
  }
  names = concat(
    ["database-url", "redis-url", "api-key-secret"],
    local.bootstrap_enabled ? ["bootstrap-admin-api-key"] : [],
    local.proxy_enabled ? ["ytdlp-proxy"] : [],
  )
}

resource "aws_secretsmanager_secret" "this" {
  for_each = toset(local.names)

  name                    = "${var.name}/${each.key}"
  description             = "Injected into the ${var.name} tasks by ECS"
  kms_key_id              = var.kms_key_arn
  recovery_window_in_days = var.recovery_window_days
}

resource "aws_secretsmanager_secret_version" "this" {
  for_each = aws_secretsmanager_secret.this

  secret_id     = each.value.id
  secret_string = local.values[each.key]
}

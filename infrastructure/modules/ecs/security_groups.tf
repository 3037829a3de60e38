resource "aws_security_group" "alb" {
  name_prefix = "${var.name}-alb-"
  description = "Public HTTPS (and HTTP, redirected) to the load balancer"
  vpc_id      = var.vpc_id

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb" {
  for_each = { for pair in setproduct(var.alb_ingress_cidrs, [80, 443]) : "${pair[1]}-${pair[0]}" => pair }

  security_group_id = aws_security_group.alb.id
  description       = each.value[1] == 443 ? "HTTPS from clients" : "HTTP from clients, redirected to HTTPS"
  ip_protocol       = "tcp"
  from_port         = each.value[1]
  to_port           = each.value[1]
  cidr_ipv4         = each.value[0]
}

resource "aws_vpc_security_group_egress_rule" "alb_to_api" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the API tasks only"
  ip_protocol                  = "tcp"
  from_port                    = local.container_port
  to_port                      = local.container_port
  referenced_security_group_id = aws_security_group.tasks.id
}

resource "aws_security_group" "tasks" {
  name_prefix = "${var.name}-tasks-"
  description = "API, worker, beat and migration tasks"
  vpc_id      = var.vpc_id

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "The load balancer to the API's port"
  ip_protocol                  = "tcp"
  from_port                    = local.container_port
  to_port                      = local.container_port
  referenced_security_group_id = aws_security_group.alb.id
}

# Workers fetch from YouTube, and every task calls AWS APIs (S3, Secrets Manager, SQS,
# CloudWatch) through the NAT gateways.
resource "aws_vpc_security_group_egress_rule" "tasks_internet" {
  for_each = toset([for port in var.task_egress_ports : tostring(port)])

  security_group_id = aws_security_group.tasks.id
  description       = "Outbound TCP ${each.key} to the internet"
  ip_protocol       = "tcp"
  from_port         = tonumber(each.key)
  to_port           = tonumber(each.key)
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "tasks_data_stores" {
  for_each = { postgres = 5432, redis = 6379 }

  security_group_id = aws_security_group.tasks.id
  description       = "To ${each.key} inside the VPC"
  ip_protocol       = "tcp"
  from_port         = each.value
  to_port           = each.value
  cidr_ipv4         = var.vpc_cidr
}

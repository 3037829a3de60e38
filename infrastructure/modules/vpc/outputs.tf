output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "cidr_block" {
  description = "CIDR block of the VPC."
  value       = aws_vpc.this.cidr_block
}

output "public_subnet_ids" {
  description = "Subnets of the load balancer and NAT gateways."
  value       = aws_subnet.public[*].id
}

output "private_subnet_ids" {
  description = "Subnets of the tasks, the database and Redis."
  value       = aws_subnet.private[*].id
}

output "nat_public_ips" {
  description = "Addresses the tasks reach the internet (and YouTube) from."
  value       = aws_eip.nat[*].public_ip
}

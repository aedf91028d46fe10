"""Everything that talks to RabbitMQ: connection, topology and confirmed publishing."""

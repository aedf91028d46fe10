"""Named exit codes, so scripts around the CLI can tell one failure from another."""

RET_OK = 0
RET_ERROR = 1  # an unexpected error; the traceback is logged
RET_USAGE = 2  # click's own code for a bad argument
RET_CONFIG = 3  # configuration file or environment variable is wrong
RET_BROKER = 4  # RabbitMQ cannot be reached
RET_DATABASE = 5  # the dead-letter database cannot be reached
RET_ZOOKEEPER = 6  # ZooKeeper cannot be reached
RET_NOT_FOUND = 7  # an id, name or filter matched nothing
RET_CONFLICT = 8  # a concurrent edit won; nothing was changed
RET_NOT_AUTHORISED = 9  # the admin credentials are missing or wrong
RET_ABORTED = 10  # the operator declined a confirmation
RET_PUBLISH = 11  # the broker refused or could not route some messages; they stay unsent

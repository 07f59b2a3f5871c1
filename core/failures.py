"""What people are told of a failure they cannot act on: one stable message per kind, shown as a
job's error (API, web page, chat). The exception behind it goes to the log with the job id, for
operators, never into a job."""

PROCESSING_FAILED = "The photo could not be processed; please try again later."
TRYING_AGAIN = "Processing hit a problem; trying again."

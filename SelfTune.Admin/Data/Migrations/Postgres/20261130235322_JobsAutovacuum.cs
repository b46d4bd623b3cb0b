using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace SelfTune.Admin.Data.Migrations.Postgres
{
    /// <summary>
    /// Vacuums the job queue's table after every thousand dead rows, unthrottled, instead of after a fifth of the table.
    /// Each job's claim and completion leave dead index entries under "Pending" and "Running" that every claim walks past
    /// until vacuum removes them (JobQueue's claim says how much that cost); with the default scale factor a table of a
    /// million finished jobs waited for 200,000 of them. The launcher still looks once a naptime (a minute by default).
    /// </summary>
    public partial class JobsAutovacuum : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                ALTER TABLE "Jobs" SET (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0);
                """);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.Sql("""
                ALTER TABLE "Jobs" RESET (autovacuum_vacuum_scale_factor, autovacuum_vacuum_threshold, autovacuum_vacuum_cost_delay);
                """);
        }
    }
}

using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace SelfTune.Admin.Data.Migrations.Postgres
{
    /// <summary>
    /// The Deliveries page's counts read this index instead of the table, whose rows carry the webhook bodies (the why is
    /// on the index in <c>AdminDbContext</c>). Built once at start-up from the existing deliveries: writes to the table
    /// wait meanwhile (a second or so per 100,000 deliveries); webhooks that arrive then are answered once it is built.
    /// </summary>
    public partial class DeliveryCountsIndex : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "IX_Deliveries_Counts",
                table: "Deliveries",
                columns: new[] { "Event", "ReceivedAt", "Outcome", "InstallationId", "RepositoryId", "ReplayedByOrgId" });
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Deliveries_Counts",
                table: "Deliveries");
        }
    }
}

using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace SelfTune.Admin.Data.Migrations.Postgres
{
    /// <inheritdoc />
    public partial class OverviewPartialIndexes : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.CreateIndex(
                name: "IX_Connections_Drifted",
                table: "Connections",
                columns: new[] { "OrgId", "DriftDetectedAt", "Id" },
                filter: "\"Drift\" IS NOT NULL");

            migrationBuilder.CreateIndex(
                name: "IX_Connections_Paused",
                table: "Connections",
                columns: new[] { "OrgId", "CreatedAt", "Id" },
                filter: "\"PausedReason\" IS NOT NULL");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropIndex(
                name: "IX_Connections_Drifted",
                table: "Connections");

            migrationBuilder.DropIndex(
                name: "IX_Connections_Paused",
                table: "Connections");
        }
    }
}

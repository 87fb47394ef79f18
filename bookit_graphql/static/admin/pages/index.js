// Every page of the dashboard, in one place. To add one (schedules, webhooks...):
// write pages/<name>.js calling registerPage(), and import it here.
import "./overview.js";
import "./bookings.js";
import "./schedules.js";
import "./services.js";
import "./users.js";
import "./reviews.js";
import "./webhooks.js";
import "./notifications.js";
